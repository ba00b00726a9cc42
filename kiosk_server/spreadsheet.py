"""Spreadsheet exports: a table (headers and rows) to CSV or XLSX bytes, safe to open.

Pure functions of rows → bytes; they live here, not in ``ballot``, only because XLSX
needs openpyxl.

The neutralisation rule (formula injection, CWE-1236): a *text* cell whose first
character is ``=``, ``+``, ``-``, ``@``, tab or carriage return — or whose first
character after leading whitespace is one of ``= + - @`` — is written with a ``'``
prefixed, in both formats, so no spreadsheet ever evaluates it and a later CSV re-export
from Excel cannot revive it. The apostrophe is part of the value: a reader sees
``'=1+1``. Numbers are typed, not sniffed: an ``int`` or ``Decimal`` (a rater's
deviation of −2.50, say) is written as a number — a numeric XLSX cell with as many
decimals shown as it has, plain digits in CSV (a bare ``-2.50`` is a number to Excel,
never a formula) — and is never prefixed. Floats are refused (figures are ``Decimal``).

Both formats say the same text: characters XML forbids (C0 controls other than tab,
line feed and carriage return) become U+FFFD, and line ends become LF (an XLSX reader
turns a raw CR into LF anyway); the rule above looks at the text as given.
CSV is UTF-8 with a BOM (so Excel shows Chinese) and CRLF line ends, byte-for-byte
deterministic; XLSX carries a save time, so its bytes are not.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

Cell = str | int | Decimal | None
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Sheet:
    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def neutralise(text: str) -> str:
    """Text made safe to open: see the module docstring for the rule."""
    risky = text.startswith(TRIGGERS) or text.lstrip().startswith(TRIGGERS[:4])
    text = ILLEGAL.sub("\ufffd", text).replace("\r\n", "\n").replace("\r", "\n")
    return "'" + text if risky else text


def _number(value: int | Decimal) -> int | Decimal:
    if isinstance(value, Decimal) and not value.is_finite():
        raise TypeError(f"not a finite number: {value}")
    return value


def _check(value: object) -> Cell:
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"write {type(value).__name__} cells as text or Decimal: {value!r}")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return _number(value)
    raise TypeError(f"unsupported cell {value!r}")


def csv_bytes(sheet: Sheet) -> bytes:
    """The sheet as CSV: UTF-8 with BOM, CRLF, every text cell neutralised."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in [list(sheet.headers), *sheet.rows]:
        cells = []
        for value in map(_check, row):
            if value is None:
                cells.append("")
            elif isinstance(value, str):
                cells.append(neutralise(value))
            else:
                cells.append(format(value, "f") if isinstance(value, Decimal) else str(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8-sig")


def _decimals_format(value: Decimal) -> str:
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return "0." + "0" * places if places else "0"


def xlsx_bytes(*sheets: Sheet) -> bytes:
    """The sheets as one XLSX workbook: header row bold and frozen, numbers numeric."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        title = SHEET_TITLE_FORBIDDEN.sub("_", sheet.title)[:31] or "Sheet"
        ws = book.create_sheet(title)
        for row_number, row in enumerate([list(sheet.headers), *sheet.rows], start=1):
            for column, value in enumerate(map(_check, row), start=1):
                if value is None:
                    continue
                cell = ws.cell(row=row_number, column=column)
                if isinstance(value, str):
                    # Set the type explicitly: openpyxl would read a leading "=" as a formula.
                    cell.value = neutralise(value)
                    cell.data_type = "s"
                else:
                    cell.value = value
                    if isinstance(value, Decimal):
                        cell.number_format = _decimals_format(value)
                if row_number == 1:
                    cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
