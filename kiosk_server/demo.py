"""A demo event shaped like the source text: a township competition for 25 middle-level posts.

The demo writes ordinary set-up files (CSV, UTF-8 with BOM, Chinese headers) and
imports them through the same importer an organiser uses, so the files double as
examples of the import formats. Names are generated from a fixed seed.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSTS = [
    ("P01", "党政办公室主任"),
    ("P02", "党政办公室副主任"),
    ("P03", "组织办公室主任"),
    ("P04", "宣传统战办公室主任"),
    ("P05", "纪检监察室副主任"),
    ("P06", "经济发展办公室主任"),
    ("P07", "经济发展办公室副主任"),
    ("P08", "财政所所长"),
    ("P09", "财政所副所长"),
    ("P10", "农业农村办公室主任"),
    ("P11", "乡村振兴工作站站长"),
    ("P12", "自然资源所所长"),
    ("P13", "生态环境办公室主任"),
    ("P14", "社会事务办公室主任"),
    ("P15", "民政办公室主任"),
    ("P16", "社会保障服务中心主任"),
    ("P17", "综治中心主任"),
    ("P18", "应急管理办公室主任"),
    ("P19", "安全生产监管站站长"),
    ("P20", "便民服务中心主任"),
    ("P21", "退役军人服务站站长"),
    ("P22", "文化服务中心主任"),
    ("P23", "村镇建设办公室主任"),
    ("P24", "统计站站长"),
    ("P25", "党群服务中心主任"),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰海燕晓东鹏飞宇婷慧"
UNITS = [
    "党政办公室",
    "经济发展办公室",
    "财政所",
    "农业服务中心",
    "社会事务办公室",
    "综治中心",
    "村镇建设办公室",
    "便民服务中心",
    "文化服务中心",
    "自然资源所",
]
RUBRIC = [
    ("analysis", "综合分析能力", "Analytical ability", "20", "0.5"),
    ("expression", "言语表达能力", "Verbal expression", "15", "0.5"),
    ("adaptability", "应变能力", "Adaptability", "15", "0.5"),
    ("organisation", "计划组织协调能力", "Planning and coordination", "15", "0.5"),
    ("communication", "人际沟通能力", "Interpersonal communication", "10", "0.5"),
    ("post_fit", "岗位认知与工作思路", "Understanding of the post", "15", "0.5"),
    ("bearing", "举止仪表", "Bearing and manner", "10", "0.5"),
]
ROOMS = [("A", "第一面试室", 7), ("B", "第二面试室", 7)]
EVENT_NAME = "某镇2026年中层干部竞争上岗"


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_setup(
    folder: Path,
    candidates: int = 40,
    seed: int = 2026,
    rooms: list[tuple[str, str, int]] | None = None,
) -> dict[str, Path]:
    """Write the demo's set-up files into ``folder`` and return them by kind."""
    rooms = rooms or ROOMS
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    names: list[str] = []
    while len(names) < candidates:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        if name not in names:
            names.append(name)
    if len(names) > 7:
        names[7] = "𠈌晓明"  # a name outside the BMP, as real rosters have
    people = []
    for i, name in enumerate(names, start=1):
        first, second = rng.sample(range(len(POSTS)), 2)
        prefs = [POSTS[first][0], POSTS[second][0] if rng.random() < 0.8 else ""]
        people.append([f"2026{i:03d}", name, rng.choice(UNITS), *prefs])
    order = list(range(candidates))
    rng.shuffle(order)
    draw = []
    per_room = -(-candidates // len(rooms))
    for number, index in enumerate(order, start=1):
        draw.append([number, people[index][0], rooms[(number - 1) // per_room][0]])
    raters = []
    for code, _name, seats in rooms:
        for seat in range(1, seats + 1):
            raters.append(
                [
                    rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    "县委组织部" if seat == 1 else rng.choice(UNITS),
                    code,
                    seat,
                    # one declared conflict (回避), for the rater draw to honour
                    people[-1][0] if (code, seat) == (rooms[0][0], 3) else "",
                ]
            )
    return {
        "rooms": _write(
            folder / "rooms.csv", ["考场代码", "考场名称", "评委席位数"], [list(r) for r in rooms]
        ),
        "posts": _write(
            folder / "posts.csv",
            ["岗位代码", "岗位名称", "职数"],
            [[code, name, 2 if code == "P02" else 1] for code, name in POSTS],
        ),
        "rubric": _write(
            folder / "rubric.csv",
            ["代码", "评分要素", "英文名称", "满分", "步长"],
            [list(r) for r in RUBRIC],
        ),
        "candidates": _write(
            folder / "candidates.csv", ["报名号", "姓名", "单位", "第一志愿", "第二志愿"], people
        ),
        "raters": _write(
            folder / "raters.csv", ["姓名", "单位", "考场", "席位", "回避考生"], raters
        ),
        "draw": _write(folder / "draw.csv", ["抽签号", "报名号", "考场"], draw),
    }


# The democratic evaluation: the source's five evaluator groups, ballots for a township
# of about a hundred staff, and weights an organiser might choose (they sum to 100).
EVALUATION_GROUPS = [
    ("机关干部", 30, 30),
    ("镇直部门负责人", 12, 25),
    ("村三委干部", 20, 20),
    ("服务对象", 15, 15),
    ("两代表一委员", 8, 10),
]
DEMO_GRADES = "优秀=100 称职=80 基本称职=60 不称职=0"


def write_groups(folder: Path) -> Path:
    """The demo's evaluator groups, an example of the groups file."""
    folder.mkdir(parents=True, exist_ok=True)
    return _write(
        folder / "groups.csv", ["组别", "票数", "权重"], [list(g) for g in EVALUATION_GROUPS]
    )
