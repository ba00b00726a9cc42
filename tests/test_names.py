"""Name masking for the published sheet: the surname stays, the rest becomes 某."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ballot.names import SEPARATORS, mask_name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("王伟", "王某"),
        ("王小明", "王某某"),
        ("欧阳修", "欧阳某"),
        ("司马相如", "司马某某"),
        ("诸葛亮", "诸葛某"),
        ("上官婉儿", "上官某某"),
        ("欧阳", "欧某"),  # two characters: surname 欧 and given name 阳, masked the safe way
        ("王", "某"),  # never shown whole
        ("𠮷田", "𠮷某"),  # Extension B surname: one character, not two UTF-16 units
        ("张𠮷", "张某"),
        ("阿依古丽·买买提", "阿某某某·某某某"),
        (" 李娜 ", "李某"),
        ("John Smith", "J*** *****"),
        ("Ng", "N*"),
        ("", ""),
    ],
)
def test_masking(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_a_decomposed_name_masks_like_the_composed_one() -> None:
    assert mask_name(unicodedata.normalize("NFD", "José Núñez")) == "J*** *****"


@given(st.text(min_size=1, max_size=12))
def test_a_mask_never_shows_more_than_the_surname(name: str) -> None:
    masked = mask_name(name)
    text = unicodedata.normalize("NFC", name).strip()
    hidden = set("某*") | SEPARATORS
    assert len(masked) == len(text)
    assert set(masked[2:]) <= hidden  # at most a two-character surname shows
    if len(text) == 1 or masked[:2] != text[:2]:
        assert set(masked[1:]) <= hidden
