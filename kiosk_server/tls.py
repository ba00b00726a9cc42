"""HTTPS on a closed LAN: a local certificate authority and a server certificate.

Tablets sign with WebCrypto, which browsers allow only in a secure context (HTTPS or
localhost), so a kiosk serving tablets on the room's Wi-Fi must speak HTTPS. There is no
internet to get a public certificate from: ``kiosk tls init`` makes a small CA in the
instance folder (its key never leaves it, mode 0600) and a server certificate for the
machine's LAN addresses and host name, signed by it. Each tablet trusts the CA once
(docs/deploy.md), comparing the SHA-256 fingerprint the kiosk shows.

ECDSA P-256 with SHA-256 is used (what Android and iPadOS accept for user-installed
roots); the server certificate lives 397 days, under the platforms' limits.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.pem", "ca.key", "server.pem", "server.key"


def lan_addresses() -> list[str]:
    """The machine's own IPv4 addresses (read locally, no packet sent), loopback first."""
    found = ["127.0.0.1"]
    try:
        out = subprocess.run(
            ["ip", "-j", "-4", "addr"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
        for link in json.loads(out):
            for info in link.get("addr_info", []):
                if info.get("local") and info["local"] not in found:
                    found.append(info["local"])
    except (OSError, ValueError, subprocess.SubprocessError):
        try:
            for address in socket.gethostbyname_ex(socket.gethostname())[2]:
                if address not in found:
                    found.append(address)
        except OSError:
            pass
    return found


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.chmod(path, 0o600)


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate (DER), as tablets' certificate views show it: AB:CD:…"""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def init_tls(
    instance: Path, hosts: list[str], addresses: list[str], now: datetime.datetime | None = None
) -> dict[str, str]:
    """Create the CA (once) and a fresh server certificate for ``hosts`` and
    ``addresses``; returns the paths and the CA fingerprint."""
    folder = instance / TLS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    now = now or datetime.datetime.now(datetime.UTC)
    ca_key_path, ca_cert_path = folder / CA_KEY, folder / CA_CERT
    if ca_key_path.exists() and ca_cert_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Interview scoring kiosk"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"面试评分系统本地证书 {socket.gethostname()}"
                ),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(ca_key_path, ca_key)  # type: ignore[arg-type]
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in dict.fromkeys(["localhost", *hosts])]
    for address in dict.fromkeys(["127.0.0.1", *addresses]):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")])
        )
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=397))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )  # type: ignore[arg-type]
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write_key(folder / SERVER_KEY, server_key)
    (folder / SERVER_CERT).write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    return {
        "ca": str(ca_cert_path),
        "cert": str(folder / SERVER_CERT),
        "key": str(folder / SERVER_KEY),
        "fingerprint": fingerprint(ca_cert_path.read_bytes()),
        "names": ", ".join(str(n.value) for n in names),
    }


def server_files(instance: Path) -> tuple[str, str] | None:
    """(certificate, key) when ``kiosk tls init`` has run, else None."""
    cert, key = instance / TLS_DIR / SERVER_CERT, instance / TLS_DIR / SERVER_KEY
    return (str(cert), str(key)) if cert.exists() and key.exists() else None
