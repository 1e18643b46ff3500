"""The real Qingdao statistical division table shipped with gridgeo.

Source: Vonng/adcode (CC BY 4.0), National Bureau of Statistics 统计用区划代码, 2016 edition.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

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
    villagers' committees (administrative villages).
    """
    return code[9:12].isdigit() and 200 <= int(code[9:12]) <= 399
