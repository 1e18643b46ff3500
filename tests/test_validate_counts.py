"""Hostile counts and codes (issue 17): boolean, infinite, overflowing, absurd counts and
non-ASCII digits are located errors, through real files and the command line."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from gridgeo.cli import main
from gridgeo.errors import InputError
from gridgeo.io import LayerSource
from gridgeo.validate import load_district, validate_layers

GK = "EPSG:4549"
X0, Y0 = 532_400.0, 3_996_700.0
CODES = ("370203026002", "370203026004")


def _communities(codes=CODES) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"community_code": list(codes), "name": ["甲", "乙"]},
                            geometry=[box(X0 + i * 400, Y0, X0 + (i + 1) * 400, Y0 + 400) for i in range(2)],
                            crs=GK)  # fmt: skip


def _buildings(**columns) -> gpd.GeoDataFrame:
    n = 4
    data = {"building_id": [f"B{i}" for i in range(n)], "households": [40, 41, 42, 43],
            "residents": [100, 101, 102, 103]}  # fmt: skip
    data.update(columns)
    return gpd.GeoDataFrame(data, geometry=[box(X0 + 40 + 90 * i, Y0 + 100, X0 + 80 + 90 * i, Y0 + 140)
                                            for i in range(n)], crs=GK)  # fmt: skip


def _files(tmp_path, com, bld, fmt="gpkg"):
    sources = {"communities": LayerSource(tmp_path / f"communities.{fmt}"),
               "buildings": LayerSource(tmp_path / f"buildings.{fmt}")}  # fmt: skip
    com.to_file(sources["communities"].path)
    bld.to_file(sources["buildings"].path)
    config = tmp_path / "district.toml"
    config.write_text("".join(f"[layers.{n}]\npath = {json.dumps(str(s.path))}\n" for n, s in sources.items()),
                      encoding="utf-8")  # fmt: skip
    return sources, config


COUNT_CASES = {
    "boolean_column": (dict(households=[True, False, True, True]), None, "boolean"),
    "infinite": (dict(households=[40.0, np.inf, 42.0, 43.0]), "B1", "infinite"),
    "overflowing": (dict(households=np.array([40, 2**63 - 1, 42, 43], dtype=np.int64)), "B1", "9223372036854775807"),
    "absurd": (dict(households=np.array([40, 10**12, 42, 43], dtype=np.int64)), "B1", "more than the 5000"),
    "absurd_residents": (dict(residents=np.array([100, 10**7, 102, 103], dtype=np.int64)), "B1", "residents"),
}


@pytest.mark.parametrize("case", sorted(COUNT_CASES))
def test_hostile_counts_are_located_errors(case, tmp_path, capsys):
    columns, fid, words = COUNT_CASES[case]
    sources, config = _files(tmp_path, _communities(), _buildings(**columns))
    with pytest.raises(InputError) as info:
        load_district(sources)
    hits = [p for p in info.value.problems if p.feature_id == fid and words in p.message]
    assert hits and hits[0].source == str(sources["buildings"].path), info.value
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_boolean_values_in_a_text_column_are_refused():
    bld = _buildings(households=np.array([40, True, 42, 43], dtype=object))
    with pytest.raises(InputError, match="yes/no value") as info:
        validate_layers({"communities": _communities(), "buildings": bld})
    assert [p.feature_id for p in info.value.problems] == ["B1"]


def test_the_ceiling_holds_at_the_limit():
    bld = _buildings(households=np.array([5000, 40, 42, 43], dtype=np.int64),
                     residents=np.array([20000, 100, 102, 103], dtype=np.int64))  # fmt: skip
    district = validate_layers({"communities": _communities(), "buildings": bld})
    assert int(district.buildings["households"].sum()) == 5000 + 40 + 42 + 43


@pytest.mark.parametrize("digits", ["３７０２０３０２６００２", "٣٧٠٢٠٣٠٢٦٠٠٢", "37020302600２"])
def test_non_ascii_digits_in_codes_are_refused(digits, tmp_path, capsys):
    com = _communities((digits, CODES[1]))
    sources, config = _files(tmp_path, com, _buildings())
    with pytest.raises(InputError) as info:
        load_district(sources)
    hits = [p for p in info.value.problems if "non-ASCII digits" in p.message]
    assert hits and hits[0].source == str(sources["communities"].path) and hits[0].feature_id == "row 1"
    assert "'370203026002'" in hits[0].message  # the code as it should be written
    assert main(["validate", str(config)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_non_ascii_digits_in_a_buildings_community_code_are_refused():
    bld = _buildings(community_code=["３７０２０３０２６００２", CODES[0], CODES[0], CODES[0]])
    with pytest.raises(InputError, match="non-ASCII digits"):
        validate_layers({"communities": _communities(), "buildings": bld})
