"""Why a candidate got, or did not get, each preference: a code with parameters, rendered
in Chinese or English only when shown, so the bundle stores facts, not sentences.

Parameters are plain strings and integers: ``pref`` (1 or 2), ``post`` (code), ``rank``
(on that post), ``tied`` (1 when the rank is shared), ``seats`` (the post's), ``left``
(seats still open when a tie is reached), ``assigned`` (the preference that was given),
``measure`` (``composite`` or a stage), ``value`` and ``minimum`` (figures as text),
``stage``, ``ratio``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .model import STAGE_NAMES, Stage


class ReasonCode(enum.StrEnum):
    ASSIGNED = "assigned"
    POST_FULL = "post_full"
    HIGHER_PREFERENCE = "higher_preference_assigned"
    BELOW_THRESHOLD = "below_threshold"
    TIE_UNRESOLVED = "tie_unresolved"
    DEPENDS_ON_TIE = "depends_on_tie"
    ABSENT = "absent"
    STAGE_MISSING = "stage_missing"
    NOT_ADVANCED = "not_advanced"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    params: Mapping[str, str | int] = field(default_factory=dict)


TEMPLATES: dict[str, dict[ReasonCode, str]] = {
    "zh": {
        ReasonCode.ASSIGNED: "{pref}志愿岗位拟任：排名第 {rank}，岗位 {seats} 个职数",
        ReasonCode.POST_FULL: "{pref}志愿岗位已满：排名第 {rank}，岗位 {seats} 个职数",
        ReasonCode.HIGHER_PREFERENCE: "{pref}志愿不再考虑：已拟任{assigned}志愿岗位",
        ReasonCode.BELOW_THRESHOLD: (
            "{pref}志愿岗位不予拟任：{measure} {value} 低于最低要求 {minimum}"
        ),
        ReasonCode.TIE_UNRESOLVED: (
            "{pref}志愿岗位待定：排名第 {rank}，与他人并列争 {left} 个剩余职数，"
            "递进规则无法区分，待组织方抽签决定"
        ),
        ReasonCode.DEPENDS_ON_TIE: "{pref}志愿岗位待定：取决于尚待抽签决定的并列",
        ReasonCode.ABSENT: "{stage}缺考，不参加排名",
        ReasonCode.STAGE_MISSING: "{stage}成绩尚未录入，暂不排名",
        ReasonCode.NOT_ADVANCED: "笔试未进入面试（按 1:{ratio} 比例），不参加排名",
    },
    "en": {
        ReasonCode.ASSIGNED: (
            "{pref} preference: proposed for the post, ranked {rank}, the post has {seats} seat(s)"
        ),
        ReasonCode.POST_FULL: (
            "{pref} preference post full: ranked {rank}, the post has {seats} seat(s)"
        ),
        ReasonCode.HIGHER_PREFERENCE: (
            "{pref} preference not considered: proposed for the {assigned_lower} preference post"
        ),
        ReasonCode.BELOW_THRESHOLD: (
            "{pref} preference not given: {measure} {value} is below the minimum {minimum}"
        ),
        ReasonCode.TIE_UNRESOLVED: (
            "{pref} preference undecided: ranked {rank}, tied with others for {left} "
            "remaining seat(s) and the tie-break chain cannot separate them; "
            "the organiser must record a lot"
        ),
        ReasonCode.DEPENDS_ON_TIE: (
            "{pref} preference undecided: it depends on a tie that awaits a lot"
        ),
        ReasonCode.ABSENT: "Absent from the {stage}; not ranked",
        ReasonCode.STAGE_MISSING: "The {stage} score is not recorded yet; not ranked yet",
        ReasonCode.NOT_ADVANCED: (
            "Not advanced to the interview by the written exam (1:{ratio}); not ranked"
        ),
    },
}
ORDINALS = {"zh": {1: "第一", 2: "第二"}, "en": {1: "First", 2: "Second"}}
MEASURES = {
    "zh": {"composite": "综合成绩", **{s.value: f"{n}成绩" for s, n in STAGE_NAMES["zh"].items()}},
    "en": {"composite": "composite", **{s.value: n for s, n in STAGE_NAMES["en"].items()}},
}


def render(reason: Reason, lang: str = "zh") -> str:
    """The reason as a sentence in ``lang`` (``zh`` or ``en``)."""
    given = reason.params
    params: dict[str, object] = dict(given)
    ordinals = ORDINALS[lang]
    for key in ("pref", "assigned"):
        if key in given:
            params[key] = ordinals.get(int(given[key]), str(given[key]))
    if "assigned" in given:
        params["assigned_lower"] = str(params["assigned"]).lower()
    if "rank" in params and params.get("tied"):
        params["rank"] = f"{params['rank']}（并列）" if lang == "zh" else f"{params['rank']} (tied)"
    if "measure" in params:
        params["measure"] = MEASURES[lang].get(str(params["measure"]), params["measure"])
    if "stage" in params:
        params["stage"] = STAGE_NAMES[lang].get(Stage(str(params["stage"])), params["stage"])
    return TEMPLATES[lang][reason.code].format(**params)
