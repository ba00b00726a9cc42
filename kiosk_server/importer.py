"""Import of an event's set-up: rooms, posts, rubric, candidates, raters, draw numbers;
and of written exam marks (笔试成绩), which count as one entry of the double entry.

Files are CSV (UTF-8, UTF-8 with BOM, or GBK as Chinese Excel writes it) or XLSX.
Headers may be English or Chinese (see docs/import-formats.md). Text is normalised
to NFC. Everything is checked before anything is written, and all files go in one
transaction: a bad row names its file, row and column, and nothing is imported.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .audit import record
from .i18n import CATALOG, translate
from .rules import interviews_started
from .storage import Store

KINDS = ("rooms", "posts", "rubric", "candidates", "raters", "draw", "written")

# kind -> column -> accepted headers (first is the canonical English one)
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "rooms": {
        "code": ("code", "考场代码"),
        "name": ("name", "考场名称"),
        "seats": ("seats", "评委席位数"),
    },
    "posts": {
        "code": ("code", "岗位代码"),
        "name": ("name", "岗位名称"),
        "seats": ("seats", "职数"),
    },
    "rubric": {
        "code": ("code", "代码"),
        "label_zh": ("label_zh", "评分要素"),
        "label_en": ("label_en", "英文名称"),
        "max": ("max", "满分"),
        "step": ("step", "步长"),
    },
    "candidates": {
        "reg_no": ("reg_no", "报名号"),
        "name": ("name", "姓名"),
        "unit": ("unit", "单位"),
        "preference1": ("preference1", "第一志愿"),
        "preference2": ("preference2", "第二志愿"),
    },
    "raters": {
        "name": ("name", "姓名"),
        "unit": ("unit", "单位"),
        "room": ("room", "考场"),
        "seat": ("seat", "席位"),
        "conflicts": ("conflicts", "回避考生"),
    },
    "draw": {
        "draw_number": ("draw_number", "抽签号"),
        "reg_no": ("reg_no", "报名号"),
        "room": ("room", "考场"),
    },
    "written": {
        "reg_no": ("reg_no", "报名号"),
        "mark": ("mark", "笔试成绩"),
    },
}
OPTIONAL = {"unit", "preference2", "room", "seat", "label_en", "conflicts"}
# Evaluator groups of the democratic evaluation (`kiosk evaluation setup --groups`): read
# with the same rules as the import files, but saved apart (they are not part of it).
COLUMNS["groups"] = {
    "name": ("name", "组别", "评价人类别"),
    "ballots": ("ballots", "票数"),
    "weight": ("weight", "权重"),
}
OPTIONAL = OPTIONAL | {"weight"}


class ImportFault(ValueError):
    """A refused import, pointing at the file, row and column to fix. ``message(lang)``
    says it in one language (the column by its header in that language, when the file's
    kind is known); ``str()`` gives Chinese, then English, for a reader who may need
    either."""

    def __init__(
        self,
        file: str,
        row: int | None,
        column: str | None,
        code: str,
        kind: str | None = None,
        **params: Any,
    ) -> None:
        self.file, self.row, self.column, self.kind = file, row, column, kind
        self.code, self.params = code, params
        super().__init__(f"{self.message('zh')}\n{self.message('en')}")

    def message(self, lang: str) -> str:
        names = COLUMNS.get(self.kind or "", {}).get(self.column or "")
        column = names[1] if names and lang == "zh" else self.column
        if self.row and column:
            where = translate("import.at_column", lang, file=self.file, row=self.row, column=column)
        elif self.row:
            where = translate("import.at_row", lang, file=self.file, row=self.row)
        else:
            where = translate("import.at_file", lang, file=self.file)
        key = f"import.{self.code}"
        if key in CATALOG["en"]:
            why = translate(key, lang, **self.params)
        else:  # a rule of the written marks' double entry with no words of its own here
            why = translate(f"error.{self.code}", lang, field=self.column or "")
        return translate("import.fault", lang, where=where, message=why)


@dataclass
class Row:
    file: str
    number: int
    values: dict[str, str]
    kind: str | None = None

    def fault(self, column: str, code: str, **params: Any) -> ImportFault:
        return ImportFault(self.file, self.number, column, code, self.kind, **params)

    def text(self, column: str, max_len: int = 100) -> str:
        value = self.values.get(column, "")
        if not value and column not in OPTIONAL:
            raise self.fault(column, "empty")
        if len(value) > max_len:
            raise self.fault(column, "too_long", max_len=max_len)
        return value

    def integer(self, column: str, low: int, high: int) -> int:
        raw = self.text(column)
        try:
            value = int(raw)
        except ValueError:
            raise self.fault(column, "not_whole", raw=raw) from None
        if not low <= value <= high:
            raise self.fault(column, "outside", value=value, low=low, high=high)
        return value

    def decimal(self, column: str) -> Decimal:
        raw = self.text(column)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise self.fault(column, "not_number", raw=raw) from None
        if not value.is_finite() or value <= 0 or value > 1000:
            raise self.fault(column, "outside_limit", raw=raw)
        return value


def _clean(value: Any) -> str:
    text = "" if value is None else str(value)
    return unicodedata.normalize("NFC", text).strip()


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) first; else GB18030, the superset of GBK that Excel writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ImportFault(name, None, None, "encoding") from None


def _raw_rows(path: Path) -> Iterator[list[Any]]:
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for a broken file
            raise ImportFault(path.name, None, None, "xlsx", detail=str(exc)) from None
        yield from (list(r) for r in book.worksheets[0].iter_rows(values_only=True))
        book.close()
    else:
        yield from csv.reader(io.StringIO(_decode(path.read_bytes(), path.name)))


def read_rows(path: Path, kind: str) -> list[Row]:
    """The file's data rows, keyed by canonical column, with spreadsheet row numbers."""
    spec = COLUMNS[kind]
    rows = iter(_raw_rows(path))
    header = [_clean(h) for h in next(rows, [])]
    index: dict[str, int] = {}
    for column, names in spec.items():
        found = [i for i, h in enumerate(header) if h.lower() in {n.lower() for n in names}]
        if found:
            index[column] = found[0]
        elif column not in OPTIONAL:
            raise ImportFault(path.name, 1, column, "missing_header", kind, names=" / ".join(names))
    out = []
    for number, raw in enumerate(rows, start=2):
        cells = [_clean(c) for c in raw]
        if not any(cells):
            continue
        values = {c: (cells[i] if i < len(cells) else "") for c, i in index.items()}
        out.append(Row(path.name, number, values, kind))
    return out


def _unique(rows: list[Row], column: str, key: Callable[[Row], Any] | None = None) -> None:
    seen: dict[Any, int] = {}
    for row in rows:
        value = key(row) if key else row.values.get(column)
        if value in (None, ""):
            continue
        if value in seen:
            raise row.fault(column, "duplicate", of=seen[value])
        seen[value] = row.number


def import_files(store: Store, event_id: int, files: dict[str, Path], actor: str = "cli") -> dict:
    """Validate then write every given file in one transaction; returns counts per kind."""
    parsed = {kind: read_rows(path, kind) for kind, path in files.items()}
    counts: dict[str, int] = {}
    with store.write() as db:

        def lookup(table: str, column: str) -> dict[str, int]:
            return {
                r[column]: r["id"]
                for r in db.query(
                    f"SELECT id, {column} FROM {table} WHERE event_id = ?", [event_id]
                )
            }

        for kind in KINDS:
            rows = parsed.get(kind)
            if rows is None:
                continue
            counts[kind] = len(rows)
            if kind == "rooms":
                _unique(rows, "code")
                for row in rows:
                    cursor = db.execute(
                        "INSERT INTO room(event_id, code, name) VALUES (?, ?, ?)",
                        [event_id, row.text("code", 20), row.text("name")],
                    )
                    for n in range(1, row.integer("seats", 1, 30) + 1):
                        db.execute(
                            "INSERT INTO seat(room_id, number) VALUES (?, ?)", [cursor.lastrowid, n]
                        )
            elif kind == "posts":
                _unique(rows, "code")
                for row in rows:
                    db.execute(
                        "INSERT INTO post(event_id, code, name, seats) VALUES (?, ?, ?, ?)",
                        [
                            event_id,
                            row.text("code", 20),
                            row.text("name"),
                            row.integer("seats", 1, 100),
                        ],
                    )
            elif kind == "rubric":
                _unique(rows, "code")
                if interviews_started(db, event_id):
                    # Every tablet view and sealed sheet names the rubric's version.
                    raise ImportFault(files["rubric"].name, None, None, "interviews_begun")
                # A rubric file is the whole rubric: until the first candidate is called it
                # replaces the one imported before (added to it, the items' order broke).
                db.execute("DELETE FROM rubric_item WHERE event_id = ?", [event_id])
                for position, row in enumerate(rows, start=1):
                    maximum, step = row.decimal("max"), row.decimal("step")
                    if maximum % step:
                        raise row.fault("step", "not_multiple", maximum=maximum, step=step)
                    db.execute(
                        "INSERT INTO rubric_item(event_id, position, code, label_zh, label_en,"
                        " max, step) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            event_id,
                            position,
                            row.text("code", 40),
                            row.text("label_zh"),
                            row.text("label_en") or row.text("label_zh"),
                            str(maximum),
                            str(step),
                        ],
                    )
            elif kind == "candidates":
                _unique(rows, "reg_no")
                posts = lookup("post", "code")
                for row in rows:
                    prefs = [row.text("preference1", 20), row.text("preference2", 20)]
                    for column, code in zip(("preference1", "preference2"), prefs, strict=True):
                        if code and code not in posts:
                            raise row.fault(column, "unknown_post", post=code)
                    if prefs[0] == prefs[1]:
                        raise row.fault("preference2", "same_post")
                    cursor = db.execute(
                        "INSERT INTO candidate(event_id, reg_no, name, unit) VALUES (?, ?, ?, ?)",
                        [event_id, row.text("reg_no", 40), row.text("name"), row.text("unit")],
                    )
                    for rank, code in enumerate(prefs, start=1):
                        if code:
                            db.execute(
                                "INSERT INTO preference(candidate_id, rank, post_id)"
                                " VALUES (?, ?, ?)",
                                [cursor.lastrowid, rank, posts[code]],
                            )
            elif kind == "raters":
                rooms = lookup("room", "code")
                _unique(
                    rows,
                    "seat",
                    key=lambda r: (
                        (r.values.get("room"), r.values.get("seat"))
                        if r.values.get("seat")
                        else None
                    ),
                )
                candidates = lookup("candidate", "reg_no")
                for row in rows:
                    seat_id = None
                    conflicts = (row.values.get("conflicts") or "").replace("、", " ")
                    conflicts_list = conflicts.replace(",", " ").replace("，", " ").split()
                    for reg_no in conflicts_list:
                        if reg_no not in candidates:
                            raise row.fault("conflicts", "unknown_candidate", value=reg_no)
                    if row.values.get("room") or row.values.get("seat"):
                        room = row.text("room", 20)
                        if room not in rooms:
                            raise row.fault("room", "unknown_room", room=room)
                        number = row.integer("seat", 1, 30)
                        found = next(
                            iter(
                                db.query(
                                    "SELECT id FROM seat WHERE room_id = ? AND number = ?",
                                    [rooms[room], number],
                                )
                            ),
                            None,
                        )
                        if found is None:
                            raise row.fault("seat", "no_seat", room=room, number=number)
                        seat_id = found["id"]
                    db.execute(
                        "INSERT INTO rater(event_id, name, unit, seat_id, conflicts)"
                        " VALUES (?, ?, ?, ?, ?)",
                        [
                            event_id,
                            row.text("name"),
                            row.text("unit"),
                            seat_id,
                            json.dumps(sorted(set(conflicts_list))),
                        ],
                    )
            elif kind == "draw":
                _unique(rows, "draw_number")
                _unique(rows, "reg_no")
                rooms, candidates = lookup("room", "code"), lookup("candidate", "reg_no")
                # A draw file is the whole order: it replaces every number not yet called.
                db.execute(
                    "UPDATE candidate SET draw_number = NULL, room_id = NULL"
                    " WHERE event_id = ? AND id NOT IN (SELECT candidate_id FROM round)",
                    [event_id],
                )
                for row in rows:
                    number = row.integer("draw_number", 1, 100000)
                    reg_no, room = row.text("reg_no", 40), row.text("room", 20)
                    if reg_no not in candidates:
                        raise row.fault("reg_no", "unknown_candidate", value=reg_no)
                    if room not in rooms:
                        raise row.fault("room", "unknown_room", room=room)
                    if next(
                        iter(
                            db.query(
                                "SELECT 1 AS x FROM round WHERE candidate_id = ?",
                                [candidates[reg_no]],
                            )
                        ),
                        None,
                    ):
                        raise row.fault("reg_no", "already_interviewed")
                    try:
                        db.execute(
                            "UPDATE candidate SET draw_number = ?, room_id = ? WHERE id = ?",
                            [number, rooms[room], candidates[reg_no]],
                        )
                    except sqlite3.IntegrityError:  # held by an interviewed candidate
                        raise row.fault("draw_number", "number_taken") from None
        if "written" in parsed:
            _written(db, event_id, files["written"], parsed["written"])
        record(
            db,
            actor,
            "setup_imported",
            "accepted",
            event=event_id,
            counts=counts,
            **setup_snapshot(db, event_id),
        )
    return counts


def _written(db: Any, event_id: int, path: Path, rows: list[Row]) -> None:
    """Written marks as one entry per row, under the file's own identity (docs/results.md):
    a refused row names its row and column, and the whole import is rolled back."""
    from hashlib import sha256

    from . import written

    identity = "import:" + sha256(path.read_bytes()).hexdigest()[:12]
    values = [(row.number, row.text("reg_no", 40), row.text("mark", 20)) for row in rows]
    try:
        written.import_rows(db, event_id, values, identity)
    except written.ImportRowError as err:
        rule = written.rule_of(db, event_id)
        _number, reg_no, mark = next(v for v in values if v[0] == err.row)
        code, params = err.code, dict(err.params)
        if code == "unknown_candidate":
            params["value"] = reg_no
        elif code in ("not_a_number", "out_of_range", "wrong_step"):
            code = f"mark_{code}"
            params.update(value=mark, full=rule.full_marks, step=rule.step)
        raise ImportFault(path.name, err.row, err.column, code, "written", **params) from None


def setup_snapshot(db: Any, event_id: int) -> dict[str, Any]:
    """What the log must hold to re-derive results: rooms and seats, and the rubric."""
    rooms = [
        {
            "id": r["id"],
            "code": r["code"],
            "name": r["name"],
            "seats": [
                {"id": s["id"], "number": s["number"]}
                for s in db.query(
                    "SELECT id, number FROM seat WHERE room_id = ? ORDER BY number", [r["id"]]
                )
            ],
        }
        for r in db.query("SELECT * FROM room WHERE event_id = ? ORDER BY id", [event_id])
    ]
    rubric = [
        {
            "code": r["code"],
            "label_zh": r["label_zh"],
            "label_en": r["label_en"],
            "max": r["max"],
            "step": r["step"],
        }
        for r in db.query(
            "SELECT * FROM rubric_item WHERE event_id = ? ORDER BY position", [event_id]
        )
    ]
    return {"rooms": rooms, "rubric": rubric}


def wrap_integrity(fn: Callable[..., dict]) -> Callable[..., dict]:
    """Turn a database constraint failure (e.g. re-importing a room code) into an ImportFault."""

    def wrapped(store: Store, event_id: int, files: dict[str, Path], actor: str = "cli") -> dict:
        try:
            return fn(store, event_id, files, actor)
        except sqlite3.IntegrityError as exc:
            names = ", ".join(p.name for p in files.values())
            raise ImportFault(names, None, None, "conflict", detail=str(exc)) from None

    return wrapped


import_setup = wrap_integrity(import_files)
