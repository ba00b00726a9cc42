"""Name masking for the published sheet (公示 with names masked, 王某某 style).

The surname stays, every other character of the name becomes 某 (``*`` in a name
without Chinese characters), so a candidate recognises their line by registration
number and surname while a passer-by learns little:

- 王伟 → 王某, 王小明 → 王某某; a name of one character → 某 (never shown whole).
- A compound surname (欧阳, 司马, 诸葛, 上官, …) stays whole when the name has at least
  three characters: 欧阳修 → 欧阳某, 司马相如 → 司马某某. A two-character name is read as
  one-character surname plus given name (欧阳 → 欧某): it could be either, and masking
  more is the safe reading.
- Separators stay: 阿依古丽·买买提 → 阿某某某·某某某 (names of ethnic minorities
  written with ·, the first part kept only to its first character, like a surname).
- A name without Chinese characters keeps its first letter: ``John Smith`` →
  ``J*** *****``, ``Ng`` → ``N*``.

Text is NFC-normalised first, so a character and its decomposed form mask alike; each
code point counts as one character, so rare characters outside the BMP (𠮷) are one.
"""

from __future__ import annotations

import unicodedata

COMPOUND_SURNAMES = frozenset(
    """
    欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫
    宗政 濮阳 公冶 太叔 申屠 公孙 慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官
    司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 轩辕 令狐 段干 百里 呼延
    东郭 南门 羊舌 微生 公户 公玉 公仪 梁丘 公仲 公上 公门 公山 公坚 左丘 公伯 西门 公祖
    第五 公乘 贯丘 公皙 南荣 东里 东宫 仲长 子书 子桑 即墨 达奚 褚师
    """.split()
)
SEPARATORS = frozenset("·・•‧ -'")  # middle dots, space, hyphen, apostrophe


def _is_han(char: str) -> bool:
    """A Chinese character: the unified ideographs with extension A, the compatibility
    block, and extensions B onwards (planes 2 and 3)."""
    return (
        "\u3400" <= char <= "\u9fff"
        or "\uf900" <= char <= "\ufaff"
        or "\U00020000" <= char <= "\U0003ffff"
    )


def mask_name(name: str) -> str:
    """The name with only its surname showing (see the module docstring)."""
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        return ""
    han = any(_is_han(c) for c in text)
    filler = "某" if han else "*"
    keep = 2 if han and len(text) >= 3 and text[:2] in COMPOUND_SURNAMES else 1
    if len(text) <= keep:
        return filler * len(text)
    return text[:keep] + "".join(c if c in SEPARATORS else filler for c in text[keep:])
