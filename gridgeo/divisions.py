"""The 12-digit statistical division code: its rules, and the real Qingdao table shipped with gridgeo.

This module is the one home of the NBS rules (统计用区划代码编制规则) that validation, coding,
the synthetic generator and the coverage proof all apply:

========  ==========  ===================================================================
digits    part        allowed
========  ==========  ===================================================================
1–2       province    a GB/T 2260 province code (:data:`PROVINCES`)
3–4       city        01–99 (``00`` is the province itself)
5–6       county      01–99 (``00`` is the city itself)
7–9       township    :data:`TOWNSHIP_KINDS`: 001–099 street (街道), 100–199 town (镇),
                      200–399 township (乡), 400–599 other/development zone
10–12     village     :data:`VILLAGE_KINDS`: 001–199 residents' committee (社区居委会),
                      200–399 villagers' committee (村委会), 400–599 other
========  ==========  ===================================================================

Table source: Vonng/adcode (CC BY 4.0), National Bureau of Statistics 统计用区划代码, 2016 edition.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

from gridgeo.i18n import N_, _

#: Province-level codes of GB/T 2260 (the first two digits of every division code).
PROVINCES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
    "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
    "54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区", "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}  # fmt: skip


#: Kinds of the township part (digits 7–9): (first, last, kind).
TOWNSHIP_KINDS: tuple[tuple[int, int, str], ...] = (
    (1, 99, N_("street")), (100, 199, N_("town")), (200, 399, N_("township")),
    (400, 599, N_("other/development zone")),
)  # fmt: skip

#: Kinds of the community/village part (digits 10–12): (first, last, kind).
VILLAGE_KINDS: tuple[tuple[int, int, str], ...] = (
    (1, 199, N_("residents' committee")), (200, 399, N_("villagers' committee")), (400, 599, N_("other")),
)  # fmt: skip

#: The kind of the village part that is an administrative village (R2 lets it stay one grid).
VILLAGE = "villagers' committee"

#: The five parts of a 12-digit code: (role, slice, label); the label is translated where shown.
PARTS: tuple[tuple[str, slice, str], ...] = (
    ("province", slice(0, 2), N_("province")), ("city", slice(2, 4), N_("city (prefecture)")),
    ("county", slice(4, 6), N_("county")), ("township", slice(6, 9), N_("street/town/township")),
    ("village", slice(9, 12), N_("community/village")),
)  # fmt: skip

Extra = tuple[tuple[int, int, str], ...]


def _kind(digits: str, kinds: Extra) -> str | None:
    if not (digits.isascii() and digits.isdigit()):
        return None
    n = int(digits)
    return next((kind for lo, hi, kind in kinds if lo <= n <= hi), None)


def township_kind(digits: str) -> str | None:
    """Return the kind of a 3-digit township part (digits 7–9), or None when not allowed.

    Parameters
    ----------
    digits : str
        Three digits.

    Returns
    -------
    str or None
        ``street``, ``town``, ``township`` or ``other/development zone``.
    """
    return _kind(digits, TOWNSHIP_KINDS)


def village_kind(digits: str) -> str | None:
    """Return the kind of a 3-digit community/village part (digits 10–12), or None.

    Parameters
    ----------
    digits : str
        Three digits.

    Returns
    -------
    str or None
        ``residents' committee``, ``villagers' committee`` or ``other``.
    """
    return _kind(digits, VILLAGE_KINDS)


def _ranges(kinds: Extra) -> str:
    return _(", ").join(f"{lo:03d}–{hi:03d} {_(kind)}" for lo, hi, kind in kinds)


def digits_label(span: slice, part: str) -> str:
    """How a message names the digits of one part of a code: ``digits 7–9 (street/town/township)``.

    Parameters
    ----------
    span : slice
        The part's digits in the code (0-based, end excluded).
    part : str
        The part's English label (translated here, so a table of labels can hold English).

    Returns
    -------
    str
    """
    if span.stop - span.start == 1:
        return _("digit {n} ({part})").format(n=span.start + 1, part=_(part))
    return _("digits {first}–{last} ({part})").format(first=span.start + 1, last=span.stop, part=_(part))


def part_problems(role: str, value: str, where: str, extra: Extra = ()) -> list[str]:
    """Sentences on what is wrong with one all-digit part of a division code.

    Parameters
    ----------
    role : {"province", "city", "county", "township", "village"}
        Which part.
    value : str
        Its digits.
    where : str
        How messages name the part, e.g. ``digits 7–9 (street/town/township)``.
    extra : tuple of (int, int, str)
        Ranges a code scheme allows beyond the NBS rules.

    Returns
    -------
    list of str
        Empty when the part is allowed.
    """
    n = int(value)
    allowed_extra = any(lo <= n <= hi for lo, hi, _meaning in extra)
    if role == "province" and value not in PROVINCES:
        return [_("{where} '{value}' is not a province code of GB/T 2260 (Shandong is 37).").format(
            where=where, value=value)]  # fmt: skip
    if role == "city" and n == 0:
        return [_("{where} '{value}' would mean the province itself; a grid needs a real city.").format(
            where=where, value=value)]  # fmt: skip
    if role == "county" and n == 0:
        return [_("{where} '{value}' would mean the city itself; a grid needs a real county.").format(
            where=where, value=value)]  # fmt: skip
    if role == "township" and township_kind(value) is None and not allowed_extra:
        if n == 0:
            return [_("{where} '000' is the county itself (a county code), not a community or village; the township "
                      "part is {ranges}.").format(where=where, ranges=_ranges(TOWNSHIP_KINDS))]  # fmt: skip
        return [_("{where} '{value}' is not a township class of the NBS rules: {ranges}.").format(
            where=where, value=value, ranges=_ranges(TOWNSHIP_KINDS))]  # fmt: skip
    if role == "village" and village_kind(value) is None and not allowed_extra:
        if n == 0:
            return [_("{where} '000' is the street/town itself (a street/town code), not a community or village; a "
                      "grid belongs to a community (001–199) or an administrative village (200–399).").format(
                          where=where)]  # fmt: skip
        return [_("{where} '{value}' is not a community/village class of the NBS rules: {ranges}.").format(
            where=where, value=value, ranges=_ranges(VILLAGE_KINDS + tuple(extra)))]  # fmt: skip
    return []


def division_code_problems(code: object) -> list[str]:
    """Explain what is wrong with a 12-digit community/village division code.

    Parameters
    ----------
    code : str
        The NBS statistical division code of a community or administrative village, as text
        of 12 ASCII digits (full-width digits are refused).

    Returns
    -------
    list of str
        One sentence per defect; empty when the code is valid.

    Examples
    --------
    >>> division_code_problems("370203026002")
    []
    >>> division_code_problems("990101001001")[0][:24]
    "digits 1–2 (province) '9"
    """
    if not isinstance(code, str):
        return [_("The community code must be a string of 12 digits, not {type}.").format(type=type(code).__name__)]
    if len(code) != 12 or not (code.isascii() and code.isdigit()):
        return [_("Community code {code!r} is not a 12-digit statistical division code (统计用区划代码).").format(
            code=code)]  # fmt: skip
    out: list[str] = []
    for role, span, label in PARTS:
        out.extend(part_problems(role, code[span], digits_label(span, label)))
    return out


@lru_cache(maxsize=1)
def load_divisions() -> pd.DataFrame:
    """Return the Qingdao division table, indexed by the 12-digit code (as a string).

    Returns
    -------
    pandas.DataFrame
        Columns ``parent, name, level, ur_code, longitude, latitude``; ``level`` is one of
        ``city, county, town, village`` (village means community or administrative village).
        The frame is cached: copy it before changing it.
    """
    path = resources.files("gridgeo") / "data" / "qingdao_divisions.csv"
    with resources.as_file(path) as p:
        df = pd.read_csv(p, dtype={"code": str, "parent": str, "ur_code": str}, encoding="utf-8")
    return df.set_index("code")


def division_name(code: str) -> str | None:
    """Return the name of a 12-digit division code, or None when Qingdao's table lacks it."""
    df = load_divisions()
    if code in df.index:
        return str(df.at[code, "name"])
    return None


def is_village_code(code: str) -> bool:
    """Tell whether a 12-digit code is an administrative village (villagers' committee).

    Digits 10–12 are 001–199 for residents' committees (communities) and 200–399 for
    villagers' committees (administrative villages), see :data:`VILLAGE_KINDS`.
    """
    return village_kind(str(code)[9:12]) == VILLAGE
