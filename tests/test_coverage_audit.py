"""Audit and rectification of hand-drawn grid layers (R6), and the departments' crosswalk (R7)."""

from __future__ import annotations

import geopandas as gpd
import geopandas.testing
import pytest
import shapely
from shapely.geometry import box
from test_coverage_checks import B_GRID, WORK, X0, Y0, A, at, toy_grids, toy_layers

from gridgeo.coding import validate_code
from gridgeo.coverage import audit_grids, crosswalk
from gridgeo.validate import validate_layers


@pytest.fixture(scope="module")
def toy():
    return validate_layers(toy_layers())


@pytest.fixture(scope="module")
def toy_units(toy):
    from gridgeo.units import build_units

    return build_units(toy)


def metric(gdf):
    return {
        r.grid_id: shapely.affinity.translate(r.geometry, -X0, -Y0)
        for r in gdf.to_crs(WORK).itertuples()
    }


def audit(toy, toy_units, **overrides):
    layer = toy_grids(**overrides)
    before = layer.copy()
    result = audit_grids(layer, toy, units=toy_units)
    gpd.testing.assert_geodataframe_equal(layer, before)
    return result


def test_clean_layer_changes_nothing(toy, toy_units):
    result = audit(toy, toy_units)
    assert result.report.ok and result.after.ok
    assert result.diff.empty
    assert list(result.corrected["grid_code"]) == list(toy_grids()["grid_code"])


def test_gap_goes_to_the_neighbour_with_the_longest_border(toy, toy_units):
    notch = box(150, 0, 200, 20)  # borders A-C01 on 70 m, A-C02 on 20 m
    result = audit(toy, toy_units, **{"A-C01": box(0, 0, 200, 200).difference(notch)})
    assert "gap" in set(result.report.findings["defect"])
    assert result.after.ok
    g = metric(result.corrected)
    assert g["A-C01"].intersection(notch).area == pytest.approx(notch.area, rel=1e-3)
    row = result.diff.set_index("grid_id").loc["A-C01"]
    assert row["action"] == "reshaped" and "gap" in row["reasons"]


def test_overlap_is_trimmed_to_one_grid(toy, toy_units):
    spur = box(
        200, 0, 220, 50
    )  # A-C01 reaches into A-C02; the spur borders A-C02 on 70 m, A-C01 on 50 m
    result = audit(toy, toy_units, **{"A-C01": box(0, 0, 200, 200).union(spur)})
    assert "overlap" in set(result.report.findings["defect"])
    assert result.after.ok
    g = metric(result.corrected)
    assert g["A-C01"].intersection(g["A-C02"]).area < 0.01
    assert g["A-C02"].intersection(spur).area == pytest.approx(spur.area, rel=1e-3)


def test_grid_across_community_line_is_clipped(toy, toy_units):
    result = audit(
        toy,
        toy_units,
        **{"A-C02": box(200, 0, 450, 200), "B-C01": B_GRID.difference(box(400, 0, 450, 200))},
    )
    assert "straddle" in set(result.report.findings["defect"])
    assert result.after.ok
    g = metric(result.corrected)
    assert g["A-C02"].difference(box(0, 0, 400, 200)).area < 0.01
    assert g["B-C01"].intersection(box(400, 0, 450, 200)).area == pytest.approx(50 * 200, rel=1e-3)
    assert "community line" in result.diff.set_index("grid_id").loc["A-C02", "reasons"]


def test_oversize_grid_is_split_and_keeps_its_code(toy, toy_units):
    code = toy_grids().set_index("grid_id").loc["A-C01", "grid_code"]
    result = audit(toy, toy_units, **{"A-C01": box(0, 0, 400, 200), "A-C02": None})
    assert "oversize" in set(result.report.blocking["defect"])
    assert result.after.ok
    a = result.corrected[result.corrected["community_code"] == A]
    assert len(a) == 2 and a["households"].between(300, 500).all()
    assert code in set(a["grid_code"])  # the surviving grid keeps its code
    assert all(not validate_code(c) for c in a["grid_code"]) and a["grid_code"].is_unique
    assert set(result.diff["action"]) >= {"split", "new"}


def test_undersize_grid_is_merged_and_recut(toy, toy_units):
    result = audit(toy, toy_units, **{"A-C01": box(0, 0, 100, 200), "A-C02": box(100, 0, 400, 200)})
    assert {"undersize", "oversize"} <= set(result.report.blocking["defect"])
    assert result.after.ok
    a = result.corrected[result.corrected["community_code"] == A]
    assert a["households"].between(300, 500).all() and a["households"].sum() == 800


def test_bad_code_is_replaced_and_good_codes_kept(toy, toy_units):
    good = toy_grids().set_index("grid_id")["grid_code"]
    result = audit(toy, toy_units, **{"A-C01": {"grid_code": "37020302600X1001000"}})
    assert "code_invalid" in set(result.report.blocking["defect"])
    assert result.after.ok
    c = result.corrected.set_index("grid_id")["grid_code"]
    assert not validate_code(c["A-C01"]) and c["A-C01"].startswith(A)
    assert all(c[k] == good[k] for k in ("A-C02", "B-C01", "B-D01"))
    assert list(result.diff["grid_id"]) == ["A-C01"] and result.diff["action"].iloc[0] == "recoded"
    assert "Audit of the grid layer" in result.to_markdown()


def test_crosswalk_maps_departments_and_flags_cuts(toy):
    grids = toy_grids()
    police = gpd.GeoDataFrame({"grid_id": ["P1", "P2"]},
                              geometry=[at(box(0, 0, 400, 200)), at(box(400, 0, 800, 200))], crs=WORK)  # fmt: skip
    urban = gpd.GeoDataFrame({"grid_id": ["U1", "U2"]},
                             geometry=[at(box(0, 0, 300, 200)), at(box(300, 0, 800, 200))], crs=WORK)  # fmt: skip
    cw = crosswalk({"police": police, "urban": urban.to_crs(4490)}, grids, district=toy)
    t = cw.table.set_index(["department", "dept_grid_id", "grid_id"])
    # Police P1 is exactly A-C01 + A-C02: aligned, each half of its area and households.
    assert t.loc[("police", "P1", "A-C01"), "relation"] == "whole"
    assert t.loc[("police", "P1", "A-C01"), "share_of_dept_households"] == pytest.approx(0.5)
    d = cw.departments.set_index(["department", "dept_grid_id"])
    assert bool(d.loc[("police", "P1"), "aligned"]) and bool(d.loc[("police", "P2"), "aligned"])
    # Urban management cuts A-C02 at x = 300.
    assert not d.loc[("urban", "U1"), "aligned"]
    assert t.loc[("urban", "U1", "A-C02"), "share_of_grid_area"] == pytest.approx(0.5, abs=1e-3)
    cut = cw.findings[cw.findings["grid_id"] == "A-C02"]
    assert len(cut) == 2 and set(cut["rule"]) == {"R7"}
    # Shares of each departmental grid add up to its whole.
    sums = cw.table.groupby(["department", "dept_grid_id"])["share_of_dept_area"].sum()
    assert sums.between(0.999, 1.001).all()
    assert "多网合一" in cw.to_markdown()


def test_crosswalk_reports_a_departmental_grid_without_geometry(toy, tmp_path):
    from shapely.geometry import LineString

    grids = toy_grids()
    police = gpd.GeoDataFrame({"grid_id": ["P1", "P2", "P3"]},
                              geometry=[at(box(0, 0, 400, 200)), None, at(LineString([(0, 0), (10, 10)]))],
                              crs=WORK)  # fmt: skip
    cw = crosswalk({"police": police}, grids, district=toy)
    missing = cw.findings[cw.findings["defect"] == "dept_no_geometry"]
    assert sorted(missing["related_id"]) == ["police:P2", "police:P3"]
    assert set(missing["rule"]) == {"R7"} and missing["geometry"].isna().all()
    d = cw.departments.set_index("dept_grid_id")
    assert list(d.index) == ["P1", "P2", "P3"] and d.loc["P2", "n_grids"] == 0
    assert not d.loc["P2", "aligned"] and bool(d.loc["P1", "aligned"])
    text = cw.to_markdown()
    assert "police:P2" in text and "no geometry" in text and "nan" not in text
    from gridgeo.io import write_layers

    write_layers({"findings": cw.findings}, tmp_path / "merge_findings.gpkg")  # the CLI's output
    assert len(gpd.read_file(tmp_path / "merge_findings.gpkg", layer="findings")) == len(cw.findings)
