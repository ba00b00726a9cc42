"""HTTPS on the LAN: a local CA, a server certificate for the LAN addresses, served for real."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests
from cryptography import x509
from flask import Flask

from kiosk_server.serving import serve_in_thread
from kiosk_server.tls import server_files
from rater_client import RaterClient
from rater_client.transport import SerialTLS

from .conftest import Event


def test_tls_init_makes_a_ca_and_a_server_certificate_for_the_lan(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tls", "init", "--host", "kiosk.local", "--ip", "192.0.2.7"])
    assert result.exit_code == 0, result.output
    assert "fingerprint" in result.output
    folder = Path(app.instance_path) / "tls"
    assert (folder / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "server.key").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kiosk.local" in names.get_values_for_type(x509.DNSName)
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} >= {"192.0.2.7", "127.0.0.1"}
    ca_before = (folder / "ca.pem").read_bytes()
    assert runner.invoke(args=["tls", "init", "--ip", "192.0.2.8"]).exit_code == 0
    assert (folder / "ca.pem").read_bytes() == ca_before  # the CA stays; tablets keep trust
    assert runner.invoke(args=["tls", "init", "--ip", "not-an-ip"]).exit_code != 0


def test_https_is_served_and_verified_with_the_kiosk_ca(app: Flask, event: Event) -> None:
    app.test_cli_runner().invoke(args=["tls", "init", "--ip", "127.0.0.1"])
    ca = str(Path(app.instance_path) / "tls" / "ca.pem")
    url, server = serve_in_thread(app, tls=server_files(Path(app.instance_path)))
    try:
        assert url.startswith("https://")
        assert requests.get(f"{url}/login", verify=ca, timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{url}/login", timeout=5)  # not trusted without the kiosk's CA
        page = requests.get(f"{url}/ca", verify=ca, timeout=5)
        assert page.status_code == 200 and ":" in page.text
        der = requests.get(f"{url}/ca.pem", verify=ca, timeout=5)
        assert der.content == Path(ca).read_bytes()
        rater = RaterClient(url, ca=ca)  # a tablet over HTTPS and secure WebSocket
        rater.enrol(event.token("A", 1))
        rater.connect()
        assert rater.state["seat"]["number"] == 1
        assert isinstance(rater.sio.eio.ws.sock, SerialTLS)  # one OpenSSL call at a time
        rater.close()
        context = ssl.create_default_context(cafile=ca)
        assert context.cert_store_stats()["x509_ca"] == 1
    finally:
        server.shutdown()


def test_serving_on_the_lan_without_https_is_refused(app: Flask, event: Event) -> None:
    result = app.test_cli_runner().invoke(args=["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code != 0 and "kiosk tls init" in result.output
    assert app.test_client().get("/ca").status_code == 404


def test_socket_handshakes_need_the_kiosks_own_origin(app: Flask, event: Event) -> None:
    """Cross-site WebSocket hijacking: a foreign or missing Origin is refused."""
    import websocket

    from kiosk_server.serving import serve_in_thread as serve

    url, server = serve(app)
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    try:
        for origin, allowed in [(url, True), ("http://evil.example", False), (None, False)]:
            options = {"origin": origin} if origin else {"suppress_origin": True}
            try:
                sock = websocket.create_connection(ws_url, timeout=5, **options)
            except websocket.WebSocketBadStatusException as refused:
                assert not allowed and refused.status_code in (400, 403), origin
            else:
                assert allowed, origin
                assert sock.recv().startswith("0{")  # the Engine.IO open packet
                sock.close()
    finally:
        server.shutdown()


def test_clients_outside_the_allowed_networks_are_refused(tmp_path: Path) -> None:
    from kiosk_server import create_app
    from kiosk_server.live import store

    app = create_app({"INSTANCE_PATH": str(tmp_path), "ALLOWED_NETWORKS": "192.168.0.0/16"})
    client = app.test_client()
    assert client.get("/login", environ_base={"REMOTE_ADDR": "192.168.3.4"}).status_code == 200
    for outside in ("8.8.8.8", "10.1.2.3", "127.0.0.1", "not-an-address"):
        answer = client.get("/login", environ_base={"REMOTE_ADDR": outside})
        assert answer.status_code == 403, outside
    default = create_app({"INSTANCE_PATH": str(tmp_path / "d")})
    assert (
        default.test_client().get("/login", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
        == 403
    )
    store(app).close()
    store(default).close()
