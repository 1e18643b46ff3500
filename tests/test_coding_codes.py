"""Validation, parsing and the division hierarchy of grid codes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import box

from gridgeo.coding import (
    check_code,
    division_level,
    division_prefix,
    grids_in,
    parse_code,
    rollup_totals,
    validate_code,
    validate_codes,
    validate_division_code,
)
from gridgeo.errors import CodeError

VALID = "3702030260041003000"  # 阜康社区, community grid, serial 3


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("370203026004100300", "has 18 characters"),
        ("37020302600410030000", "has 20 characters"),
        ("37020302600410030a0", "non-digit characters at position 18"),
        ("3702030260041003000 ", "leading or trailing spaces"),
        ("9902030260041003000", "not a province code"),
        ("3700030260041003000", "the province itself"),
        ("3702000260041003000", "the city itself"),
        ("3702030000041003000", "'000' is the county itself"),
        ("3702036260041003000", "not a township class"),
        ("3702030260001003000", "'000' is the street/town itself"),
        ("3702030266041003000", "not a community/village class"),
        ("3702030260043003000", "other values are reserved"),
        ("3702030260040003000", "digit 13 (grid class) is '0'"),
        ("3702030260041000000", "out of range 001–999"),
    ],
)
def test_each_defect_class_is_explained(code, needle):
    problems = validate_code(code)
    assert problems, code
    assert any(needle in p for p in problems), problems
    with pytest.raises(CodeError, match="invalid grid code"):
        check_code(code)


def test_valid_codes_have_no_problems():
    assert validate_code(VALID) == []
    assert check_code(VALID) == VALID
    # development zone township (4xx) and special village classes (4xx/5xx) are real data
    assert validate_code("3702834000011001000") == []
    assert validate_code("3702851025002001000") == []
    assert validate_code("3702030262002001000") == []  # administrative village, dedicated


def test_every_defect_reported_at_once():
    problems = validate_code("9902030260003000000")
    assert len(problems) == 4  # province, village 000, class 3, serial 000


def test_non_string_code_is_explained():
    (problem,) = validate_code(3702030260041003000)
    assert "string" in problem


def test_presets_validate_their_own_layout():
    assert validate_code("370203026004003", scheme="beijing-db11") == []
    assert validate_code("370203026004000", scheme="beijing-db11")  # serial 000
    assert validate_code("00010037020302600400", scheme="cjt-349-2010") == []
    assert validate_code("00010037020302660100", scheme="cjt-349-2010") == []  # merged
    assert validate_code("3702030260041003000", scheme="cjt-349-2010")  # wrong length


def test_parse_names_parents_from_the_real_table():
    p = parse_code(VALID)
    assert p.division_code == "370203026004"
    assert (p.grid_class, p.serial, p.subgrid) == ("community", 3, 0)
    assert p.township_kind == "street"
    assert p.community_kind == "residents' committee"
    assert [d.level for d in p.parents] == ["province", "city", "county", "township", "community"]
    assert p.name_of("province") == "山东省"
    assert p.name_of("city") == "青岛市"
    assert p.name_of("county") == "市北区"
    assert p.name_of("township") == "阜新路街道办事处"
    assert p.name_of("community") == "阜康社区居委会"
    assert p.to_dict()["community_code"] == "370203026004"


def test_parse_recoded_jimo_knows_the_district_name():
    p = parse_code("3702151002011001000")
    assert p.name_of("county") == "即墨区"
    assert p.community_kind == "villagers' committee"


def test_parse_invalid_raises():
    with pytest.raises(CodeError):
        parse_code("3702030260041003")


def test_validate_division_code():
    assert validate_division_code("370203026004") == []
    assert validate_division_code("370203026000")
    assert validate_division_code("37020302600")


@pytest.mark.parametrize(
    ("code", "prefix", "level"),
    [
        ("370000000000", "37", "province"),
        ("370200000000", "3702", "city"),
        ("370203000000", "370203", "county"),
        ("370203026000", "370203026", "township"),
        ("370203026004", "370203026004", "community"),
        ("370203", "370203", "county"),
    ],
)
def test_division_prefix(code, prefix, level):
    assert division_prefix(code) == prefix
    assert division_level(code) == level


def _coded():
    rows = [
        ("3702030260041001000", "370203026004", "阜康", "community", 400, 1000),
        ("3702030260041002000", "370203026004", "阜康", "community", 350, 900),
        ("3702030260042001000", "370203026004", "阜康", "dedicated", 0, 0),
        ("3702030260051001000", "370203026005", "", "community", 300, 800),
        ("3702020010011001000", "370202001001", "云霄路", "community", 450, 1100),
        ("3702151002011001000", "370215100201", "新村", "community", 320, 990),
    ]
    return gpd.GeoDataFrame(
        {
            "grid_code": [r[0] for r in rows],
            "community_code": [r[1] for r in rows],
            "community_name": [r[2] for r in rows],
            "grid_class": [r[3] for r in rows],
            "households": [r[4] for r in rows],
            "residents": [r[5] for r in rows],
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(len(rows))],
        crs="EPSG:4547",
    )


def test_grids_in_selects_by_prefix_without_touching_input():
    grids = _coded()
    before = grids.copy()
    assert len(grids_in(grids, "370203026000")) == 4
    assert len(grids_in(grids, "370203000000")) == 4
    assert len(grids_in(grids, "370200000000")) == 6
    assert len(grids_in(grids, "370203026004")) == 3
    assert_geodataframe_equal(grids, before)


def test_rollup_totals_per_level():
    grids = _coded()
    before = grids.copy()
    tot = rollup_totals(grids)
    assert_geodataframe_equal(grids, before)
    city = tot[tot["level"] == "city"].iloc[0]
    assert (city["name"], city["households"], city["residents"], city["n_grids"]) == (
        "青岛市",
        1820,
        4790,
        6,
    )
    street = tot[tot["division_code"] == "370203026000"].iloc[0]
    assert street["households"] == 1050 and street["n_dedicated_grids"] == 1
    comm = tot[tot["division_code"] == "370215100201"].iloc[0]
    assert comm["name"] == "新村"  # not in the 2016 table: name from the layer
    assert tot[tot["division_code"] == "370215000000"].iloc[0]["name"] == "即墨区"
    # parents come before children
    codes = list(tot["division_code"])
    assert codes.index("370200000000") < codes.index("370203000000") < codes.index("370203026000")
    assert set(tot["level"]) == {"province", "city", "county", "township", "community"}


def test_validate_codes_reports_as_data():
    codes = pd.Series([VALID, "123", VALID], index=["a", "b", "c"])
    report = validate_codes(codes)
    assert list(report.columns) == ["index", "code", "problem"]
    assert list(report["index"]) == ["b", "c"]
    assert "repeats" in report["problem"].iloc[1]
    assert validate_codes([VALID]).empty
