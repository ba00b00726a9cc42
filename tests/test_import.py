"""Set-up import: encodings Chinese offices produce, XLSX, NFC, and all-or-nothing refusals."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import Workbook

from kiosk_server.events import create_event
from kiosk_server.importer import ImportFault, import_setup
from kiosk_server.interview import call_candidate
from kiosk_server.live import store

from .conftest import Event, setup_files, write_csv


@pytest.fixture
def event_id(app: Flask) -> int:
    with app.app_context():
        return create_event(store(), "导入测试")


def counts(app: Flask) -> dict[str, int]:
    return {
        table: store(app).row(f"SELECT COUNT(*) AS n FROM {table}")["n"]
        for table in ("room", "seat", "post", "candidate", "preference", "rubric_item", "rater")
    }


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_every_encoding_excel_writes(
    app: Flask, event_id: int, tmp_path: Path, encoding: str
) -> None:
    path = write_csv(
        tmp_path / "candidates.csv",
        [
            ["报名号", "姓名", "单位", "第一志愿", "第二志愿"],
            ["R1", "欧阳娜娜", "财政所", "P1", ""],
        ],
        encoding,
    )
    posts = write_csv(
        tmp_path / "posts.csv", [["岗位代码", "岗位名称", "职数"], ["P1", "所长", "1"]]
    )
    import_setup(store(app), event_id, {"posts": posts, "candidates": path})
    assert store(app).row("SELECT name, unit FROM candidate") == {
        "name": "欧阳娜娜",
        "unit": "财政所",
    }


def test_xlsx_and_names_normalised_to_nfc(app: Flask, event_id: int, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    decomposed = unicodedata.normalize("NFD", "José 𠈌晓明")
    sheet.append(["reg_no", "name", "unit", "preference1", "preference2"])
    sheet.append(["R9", decomposed, "  镇政府 ", "P1", None])
    book.save(tmp_path / "candidates.xlsx")
    posts = write_csv(tmp_path / "posts.csv", [["code", "name", "seats"], ["P1", "所长", 1]])
    import_setup(store(app), event_id, {"posts": posts, "candidates": tmp_path / "candidates.xlsx"})
    row = store(app).row("SELECT name, unit FROM candidate")
    assert row == {"name": "José 𠈌晓明", "unit": "镇政府"}
    assert unicodedata.is_normalized("NFC", row["name"])


def test_the_full_setup_imports_with_preferences_in_order(
    app: Flask, event_id: int, tmp_path: Path
) -> None:
    import_setup(store(app), event_id, setup_files(tmp_path))
    assert counts(app) == {
        "room": 2,
        "seat": 8,
        "post": 2,
        "candidate": 6,
        "preference": 8,
        "rubric_item": 3,
        "rater": 0,
    }
    prefs = store(app).rows(
        "SELECT post.code FROM preference JOIN post ON post.id = preference.post_id"
        " JOIN candidate ON candidate.id = preference.candidate_id"
        " WHERE candidate.reg_no = 'R004' ORDER BY rank"
    )
    assert [p["code"] for p in prefs] == ["P2", "P1"]


@pytest.mark.parametrize(
    ("kind", "rows", "where"),
    [
        (
            "rooms",
            [["code", "name", "seats"], ["A", "一室", "7"], ["A", "二室", "7"]],
            "rooms.csv, row 3, column code: duplicate of row 2",
        ),
        (
            "rooms",
            [["code", "name", "seats"], ["A", "一室", "七"]],
            "rooms.csv, row 2, column seats: not a whole number",
        ),
        ("rooms", [["code", "name"], ["A", "一室"]], "rooms.csv, row 1, column seats: missing"),
        (
            "rubric",
            [["code", "label_zh", "label_en", "max", "step"], ["a", "甲", "A", "20", "0"]],
            "rubric.csv, row 2, column step",
        ),
        (
            "rubric",
            [["code", "label_zh", "label_en", "max", "step"], ["a", "甲", "A", "20", "3"]],
            "rubric.csv, row 2, column step: 20 is not a multiple of 3",
        ),
        (
            "candidates",
            [
                ["reg_no", "name", "unit", "preference1", "preference2"],
                ["R1", "王", "", "P1", ""],
                ["R2", "李", "", "P9", ""],
            ],
            "candidates.csv, row 3, column preference1: unknown post code 'P9'",
        ),
        (
            "candidates",
            [["reg_no", "name", "unit", "preference1", "preference2"], ["R1", "", "", "P1", ""]],
            "candidates.csv, row 2, column name: empty",
        ),
        (
            "candidates",
            [
                ["reg_no", "name", "unit", "preference1", "preference2"],
                ["R1", "王", "", "P1", "P1"],
            ],
            "candidates.csv, row 2, column preference2: same post",
        ),
    ],
)
def test_a_bad_row_names_file_row_and_column_and_imports_nothing(
    app: Flask, event_id: int, tmp_path: Path, kind: str, rows: list, where: str
) -> None:
    posts = write_csv(tmp_path / "posts.csv", [["code", "name", "seats"], ["P1", "所长", 1]])
    files = {"posts": posts, kind: write_csv(tmp_path / f"{kind}.csv", rows)}
    before = counts(app)
    with pytest.raises(ImportFault) as fault:
        import_setup(store(app), event_id, files)
    assert where in fault.value.message("en")
    zh = fault.value.message("zh")
    assert zh.startswith(f"{kind}.csv 第 ") and "import." not in zh  # its words, not its code
    assert counts(app) == before  # the posts file, valid on its own, was not imported either


@pytest.mark.parametrize(
    ("kind", "rows", "zh"),
    [
        (
            "rooms",
            [["考场代码", "考场名称", "评委席位数"], ["A", "一室", "七"]],
            "rooms.csv 第 2 行“评委席位数”列：不是整数：“七”",
        ),
        (
            "posts",
            [["code", "name"], ["P1", "所长"]],
            "posts.csv 第 1 行“职数”列：缺少这一列的表头（可写作：seats / 职数）",
        ),
        (
            "raters",
            [["姓名", "单位", "考场", "席位", "回避考生"], ["张三", "", "A", "9", ""]],
            "raters.csv 第 2 行“席位”列：考场 A 没有“评委9”席位",
        ),
    ],
)
def test_a_refusal_reads_in_chinese_with_the_columns_chinese_header(
    app: Flask, event_id: int, tmp_path: Path, kind: str, rows: list, zh: str
) -> None:
    """A township clerk reads the refusal in Chinese first, the column named as the
    Chinese header (whichever header the file used); English follows on its own line."""
    rooms = write_csv(tmp_path / "rooms.csv", [["code", "name", "seats"], ["A", "一室", 7]])
    files = {"rooms": rooms, kind: write_csv(tmp_path / f"{kind}.csv", rows)}
    with pytest.raises(ImportFault) as fault:
        import_setup(store(app), event_id, files)
    assert fault.value.message("zh") == zh
    assert str(fault.value) == f"{zh}\n{fault.value.message('en')}"


def test_undecodable_bytes_are_refused(app: Flask, event_id: int, tmp_path: Path) -> None:
    path = tmp_path / "rooms.csv"
    path.write_bytes(b"code,name,seats\nA,\xff\xfe\xfa,7\n")
    with pytest.raises(ImportFault, match="neither UTF-8 nor GBK") as fault:
        import_setup(store(app), event_id, {"rooms": path})
    assert fault.value.message("zh").startswith("rooms.csv：既不是 UTF-8 也不是 GBK 编码的文本")


def test_reimporting_the_same_rooms_is_refused_cleanly(
    app: Flask, event_id: int, tmp_path: Path
) -> None:
    files = setup_files(tmp_path)
    import_setup(store(app), event_id, {"rooms": files["rooms"]})
    with pytest.raises(ImportFault, match="conflicts with what is already imported"):
        import_setup(store(app), event_id, {"rooms": files["rooms"]})


def rubric_items(app: Flask, event_id: int) -> list[tuple[int, str]]:
    rows = store(app).rows(
        "SELECT position, code FROM rubric_item WHERE event_id = ? ORDER BY position", [event_id]
    )
    return [(r["position"], r["code"]) for r in rows]


def test_a_rubric_file_replaces_the_rubric_until_a_candidate_is_called(
    app: Flask, event: Event, tmp_path: Path
) -> None:
    """Imported again before the interviews, the rubric file is the rubric (added to the
    one before, the items' positions collided); once a candidate has been called it is
    refused and the rubric every score was given on stays."""
    header = ["code", "label_zh", "label_en", "max", "step"]
    mended = write_csv(
        tmp_path / "mended.csv",
        [header, ["views", "观点", "Views", 60, 0.5], ["manner", "仪态", "", 40, 1]],
    )
    import_setup(store(app), event.id, {"rubric": mended})
    assert rubric_items(app, event.id) == [(1, "views"), (2, "manner")]
    with app.app_context():
        call_candidate(store(), event.id, event.rooms["A"], None, "test")
    before, logged = rubric_items(app, event.id), len(event.audit("setup_imported"))
    again = write_csv(tmp_path / "again.csv", [header, ["extra", "附加", "", 10, 1]])
    with pytest.raises(ImportFault, match="the interviews have begun"):
        import_setup(store(app), event.id, {"rubric": again})
    assert rubric_items(app, event.id) == before
    assert len(event.audit("setup_imported")) == logged  # nothing of it was kept
