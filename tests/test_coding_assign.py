"""Serial order and code assignment on small hand-made grid layers."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import box

from gridgeo.coding import CodeRegistry, assign_codes, parse_code, serial_order, validate_code
from gridgeo.errors import CodeError, InputError

COMM = "370203026004"
OTHER = "370203026005"
X0, Y0 = 520_000.0, 3_990_000.0  # CGCS2000 / 3-degree GK CM 120E (EPSG:4547), Qingdao


def _sq(x: float, y: float, size: float = 100.0):
    return box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size)


def _layer() -> gpd.GeoDataFrame:
    """Five community grids of one community, one dedicated grid, two of another.

    Representative points (square centres), metres from (X0, Y0):
    w (50, 1100), m (350, 950), e (650, 1050) -> first 200 m row (top 1100);
    s2 (150, 750) -> row 1; s1 (550, 650) -> row 2.
    """
    rows = [
        ("g-e", COMM, "community", _sq(600, 1000)),
        ("g-s1", COMM, "community", _sq(500, 600)),
        ("g-w", COMM, "community", _sq(0, 1050)),
        ("g-s2", COMM, "community", _sq(100, 700)),
        ("g-m", COMM, "community", _sq(300, 900)),
        ("d-school", COMM, "dedicated", _sq(800, 800)),
        ("o-2", OTHER, "community", _sq(2000, 0)),
        ("o-1", OTHER, "community", _sq(1800, 0)),
    ]
    return gpd.GeoDataFrame(
        {
            "grid_id": [r[0] for r in rows],
            "community_code": [r[1] for r in rows],
            "community_name": ["阜康" if r[1] == COMM else "other" for r in rows],
            "grid_class": [r[2] for r in rows],
            "dedicated_class": ["school" if r[2] == "dedicated" else "" for r in rows],
            "households": [400, 350, 320, 310, 450, 0, 300, 330],
            "residents": [1000, 900, 800, 800, 1100, 0, 700, 800],
            "flag": [""] * len(rows),
        },
        geometry=[r[3] for r in rows],
        crs="EPSG:4547",
    )


EXPECTED = {
    "g-w": "3702030260041001000",
    "g-m": "3702030260041002000",
    "g-e": "3702030260041003000",
    "g-s2": "3702030260041004000",
    "g-s1": "3702030260041005000",
    "d-school": "3702030260042001000",
    "o-1": "3702030260051001000",
    "o-2": "3702030260051002000",
}


def _codes(gdf) -> dict[str, str]:
    return dict(zip(gdf["grid_id"], gdf["grid_code"], strict=True))


def test_serial_order_west_east_north_south():
    grids = _layer()
    rank = dict(zip(grids["grid_id"], serial_order(grids), strict=True))
    assert rank == {k: parse_code(v).serial for k, v in EXPECTED.items()}


def test_serial_order_band_height_matters():
    grids = _layer()
    # with 50 m rows, g-w (y 1100), g-e (1050) and g-m (950) fall in rows 0, 1, 3
    rank = dict(zip(grids["grid_id"], serial_order(grids, band_m=50), strict=True))
    assert [k for k, _ in sorted(rank.items(), key=lambda kv: kv[1]) if k.startswith("g-")] == [
        "g-w",
        "g-e",
        "g-m",
        "g-s2",
        "g-s1",
    ]


def test_serial_order_is_the_same_in_geographic_crs():
    grids = _layer()
    assert list(serial_order(grids.to_crs("EPSG:4326"))) == list(serial_order(grids))


def test_ties_broken_by_grid_id():
    grids = gpd.GeoDataFrame(
        {
            "grid_id": ["b", "a"],
            "community_code": [COMM, COMM],
            "grid_class": ["community", "community"],
        },
        geometry=[_sq(0, 0), _sq(0, 0)],
        crs="EPSG:4547",
    )
    assert list(serial_order(grids)) == [2, 1]


def test_assign_without_registry():
    grids = _layer()
    before = grids.copy()
    coded = assign_codes(grids)
    assert_geodataframe_equal(grids, before)  # the input frame is not modified
    assert "grid_code" not in grids.columns
    assert _codes(coded) == EXPECTED
    assert all(validate_code(c) == [] for c in coded["grid_code"])
    assert coded.crs == grids.crs and list(coded.index) == list(grids.index)


def test_assign_with_other_scheme():
    coded = assign_codes(_layer(), scheme="beijing-db11")
    assert all(validate_code(c, scheme="beijing-db11") == [] for c in coded["grid_code"])
    # no class field: dedicated grids share the community's serials
    assert coded["grid_code"].is_unique


def test_assign_with_registry_is_stable(tmp_path):
    grids = _layer()
    before = grids.copy()
    with CodeRegistry(tmp_path / "r.sqlite") as reg:
        first = assign_codes(grids, registry=reg, date="2024-01-01")
        assert_geodataframe_equal(grids, before)
        assert _codes(first) == EXPECTED
        # a second run of the same layer (no grid_code column) keeps every code by shape
        again = assign_codes(grids, registry=reg, date="2024-02-01")
        assert _codes(again) == EXPECTED
        assert len(reg.codes()) == len(grids)
        # a new grid takes the next serial, never a gap
        extra = gpd.GeoDataFrame(
            {
                "grid_id": ["g-new"],
                "community_code": [COMM],
                "grid_class": ["community"],
            },
            geometry=[_sq(0, 0)],
            crs=grids.crs,
        )
        grown = assign_codes(
            gpd.GeoDataFrame(pd.concat([grids, extra], ignore_index=True), crs=grids.crs),
            registry=reg,
            date="2024-03-01",
        )
        assert _codes(grown)["g-new"] == "3702030260041006000"


def test_carried_codes_are_kept_adopted_or_refused(tmp_path):
    grids = _layer()
    with CodeRegistry(tmp_path / "r.sqlite") as reg:
        hand = grids.copy()
        hand["grid_code"] = [""] * len(hand)
        hand.loc[hand["grid_id"] == "g-m", "grid_code"] = "3702030260041007000"
        coded = assign_codes(hand, registry=reg, date="2024-01-01")
        assert _codes(coded)["g-m"] == "3702030260041007000"  # adopted
        assert reg.record("3702030260041007000").status == "active"
        # the others are issued above the adopted serial
        assert sorted(
            parse_code(c).serial
            for c in coded["grid_code"][
                coded["grid_class"].eq("community") & coded["community_code"].eq(COMM)
            ]
        ) == [7, 8, 9, 10, 11]
        reg.retire("3702030260041007000", date="2024-06-01")
        with pytest.raises(CodeError, match="retired"):
            assign_codes(hand, registry=reg, date="2024-07-01")


def test_retire_missing_infers_split_and_merge(tmp_path):
    grids = _layer()
    with CodeRegistry(tmp_path / "r.sqlite") as reg:
        first = assign_codes(grids, registry=reg, date="2024-01-01")
        old = _codes(first)
        # g-w splits in two; o-1 and o-2 (adjacent) merge into one
        w = grids.loc[grids["grid_id"] == "g-w"].geometry.iloc[0]
        minx, miny, maxx, maxy = w.bounds
        o = grids.loc[grids["grid_id"].isin(["o-1", "o-2"])].geometry.union_all()
        keep = grids[~grids["grid_id"].isin(["g-w", "o-1", "o-2"])]
        new_rows = gpd.GeoDataFrame(
            {
                "grid_id": ["g-w1", "g-w2", "o-12"],
                "community_code": [COMM, COMM, OTHER],
                "grid_class": ["community"] * 3,
            },
            geometry=[
                box(minx, miny, (minx + maxx) / 2, maxy),
                box((minx + maxx) / 2, miny, maxx, maxy),
                o,
            ],
            crs=grids.crs,
        )
        second = gpd.GeoDataFrame(pd.concat([keep, new_rows], ignore_index=True), crs=grids.crs)
        coded = assign_codes(second, registry=reg, date="2025-01-01", retire_missing=True)
        new = _codes(coded)
        for gid in ("g-e", "g-m", "g-s1", "g-s2", "d-school"):
            assert new[gid] == old[gid]
        assert reg.record(old["g-w"]).status == "retired"
        lin = reg.lineage(old["g-w"])
        assert set(zip(lin["new_code"], lin["reason"], strict=True)) == {
            (new["g-w1"], "split"),
            (new["g-w2"], "split"),
        }
        lin = reg.lineage(new["o-12"])
        assert set(zip(lin["old_code"], lin["reason"], strict=True)) == {
            (old["o-1"], "merge"),
            (old["o-2"], "merge"),
        }


def test_bad_layer_lists_every_problem():
    grids = _layer()
    grids.loc[0, "community_code"] = "370203026000"
    grids.loc[1, "grid_class"] = "school"
    grids.loc[2, "grid_id"] = "g-m"
    with pytest.raises(InputError) as err:
        assign_codes(grids)
    assert len(err.value.problems) == 3


def test_missing_crs_is_an_input_error():
    grids = _layer().set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="CRS"):
        assign_codes(grids)


def test_sample_partition_codes_are_valid_unique_and_in_serial_order(sample_result):
    coded = assign_codes(sample_result.grids)
    assert coded["grid_code"].is_unique
    assert all(validate_code(c) == [] for c in coded["grid_code"])
    assert (coded["grid_code"].str[:12] == coded["community_code"]).all()
    # Class digit: 1 community grid, 2 dedicated grid.
    digit = coded["grid_code"].str[12]
    assert ((digit == "1") == (coded["grid_class"] == "community")).all()


def test_grid_numbers_agree_with_the_serials_they_are_issued(sample_result):
    """Issue 18: grid C01 carries serial 001, C02 serial 002 ... (one reading order for both)."""
    coded = assign_codes(sample_result.grids)
    number = coded["grid_id"].str[-2:].astype(int)
    serial = coded["grid_code"].str[13:16].astype(int)
    assert len(coded) > 100
    assert (number == serial).all(), coded.loc[number != serial, ["grid_id", "grid_code"]].head()
    # The ids still run C01..Cn, D01..Dm within each community: renumbering lost or doubled none.
    for (_, cls), grp in coded.groupby(["community_code", "grid_class"]):
        assert sorted(grp["grid_id"].str[-2:].astype(int)) == list(range(1, len(grp) + 1)), cls
