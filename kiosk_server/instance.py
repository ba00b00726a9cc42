"""The instance folder: the database and the server's secret, in one documented place.

``KIOSK_INSTANCE_PATH`` chooses it; otherwise ``$XDG_DATA_HOME/interview-kiosk``
(``~/.local/share/interview-kiosk``). The folder is created mode 0700 and the secret
file mode 0600: whoever reads them can act as the server.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = "secret_key"
SERVER_KEY_FILE = "server_key.pem"
DATABASE_FILE = "kiosk.sqlite3"


def default_instance_path() -> Path:
    configured = os.environ.get("KIOSK_INSTANCE_PATH")
    if configured:
        return Path(configured).expanduser().resolve()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "interview-kiosk"


def ensure_instance(path: Path) -> bytes:
    """Create the folder and secret if missing; return the secret."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    secret_path = path / SECRET_FILE
    if not secret_path.exists():
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    key_path = path / SERVER_KEY_FILE
    if not key_path.exists():
        # The server's Ed25519 key: signs tree heads and what tablets must trust.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from seal.signing import private_key_pem

        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_pem(Ed25519PrivateKey.generate()))
    return bytes.fromhex(secret_path.read_text().strip())


def token_key(secret: bytes) -> bytes:
    """A key for enrolment tokens, separate from the session-signing use of the secret."""
    return hmac.new(secret, b"kiosk enrolment tokens", hashlib.sha256).digest()
