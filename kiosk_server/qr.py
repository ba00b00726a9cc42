"""QR codes for enrolment links: SVG for the printed sheet, text for the terminal."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg


def svg(data: str) -> str:
    """An inline SVG of ``data`` (qrcode's pure-Python SVG writer: no Pillow needed)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    text = out.getvalue().decode("utf-8")
    return text[text.index("<svg") :]


def terminal(data: str) -> str:
    """The QR code drawn with block characters, for ``kiosk demo`` in a terminal."""
    code = qrcode.QRCode(border=1)
    code.add_data(data)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
