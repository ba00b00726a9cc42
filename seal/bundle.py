"""The evidence bundle: one zip whose every byte is determined by its contents.

Terms:
- *bundle*: a ZIP (stored, not compressed) of the files in ``FILES``, in that order, each
  with the fixed timestamp 1980-01-01 00:00:00, mode 0644, made on "Unix". Because the
  layout is fixed, a verifier re-packs what it read and requires the very same bytes:
  any byte changed anywhere in the file is caught, even in a header field nobody reads.
- ``log.jsonl`` is the event's log, one canonical leaf per line; every other file is
  either a signed record (``heads.jsonl``) or derived from the log, and the verifier
  derives it again. docs/bundle-format.md describes each file.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from .signing import canonical, checked_bytes, sha256_hex

FORMAT = "kiosk-evidence-bundle/2"
FILES = (
    "bundle.json",
    "event.json",
    "rosters.json",
    "log.jsonl",
    "heads.jsonl",
    "envelopes.jsonl",
    "openings.jsonl",
    "results.json",
    "results-final.json",
)
_EPOCH = (1980, 1, 1, 0, 0, 0)


def jsonl(values: list[Any], check: bool = False) -> bytes:
    """Canonical JSON, one value per line, each line ended by a newline (``check``: the
    verifier's encoder, see ``signing.checked_bytes``)."""
    encode = checked_bytes if check else canonical
    return b"".join(encode(v) + b"\n" for v in values)


def read_jsonl(data: bytes) -> list[Any]:
    """Parse a ``.jsonl`` file."""
    return [value for _line, value in read_lines(data)]


def read_lines(data: bytes) -> list[tuple[bytes, Any]]:
    """Each line's bytes and value. Lines are not re-encoded to check they are canonical:
    a log line is hashed as it stands, so one that differs from what the server hashed
    breaks every signed head after it, and the other files are compared byte for byte
    with what the verifier derives."""
    if data and not data.endswith(b"\n"):
        raise ValueError("the last line is not ended by a newline")
    return [(line, json.loads(line)) for line in data.split(b"\n")[:-1]]


def read_json(data: bytes) -> Any:
    value = json.loads(data)
    if canonical(value) != data:
        raise ValueError("not canonical JSON")
    return value


def manifest(files: Mapping[str, bytes], event: int, server_key: str, rehearsal: bool) -> bytes:
    """``bundle.json``: the format, the event, the server key and every other file's hash."""
    return canonical(
        {
            "format": FORMAT,
            "event": event,
            "server_key": server_key,
            "rehearsal": rehearsal,
            "files": {name: sha256_hex(files[name]) for name in FILES if name != "bundle.json"},
        }
    )


def pack(files: Mapping[str, bytes]) -> bytes:
    """The bundle's bytes: every file of ``FILES``, stored, in order, with fixed metadata."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in FILES:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, files[name])
    return out.getvalue()


def unpack(data: bytes) -> dict[str, bytes]:
    """Read a bundle; refuses anything but exactly ``FILES`` in canonical layout."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if tuple(names) != FILES:
                raise ValueError(f"the bundle holds {names}, not {list(FILES)}")
            files = {name: archive.read(name) for name in names}
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable zip file ({exc})") from None
    if pack(files) != data:
        raise ValueError(
            "the file is not byte for byte the bundle its contents make: it was "
            "altered or re-packed"
        )
    return files
