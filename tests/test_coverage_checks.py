"""The coverage proof on hand-made layers: one test per defect class, each finding where it is.

The toy district (metric CGCS2000 / GK CM 120°E, delivered in lon/lat EPSG:4490): two
urban communities side by side, A = [0, 400] x [0, 200] m and B = [400, 800] x [0, 200] m
(offset to Qingdao). A holds 20 buildings of 40 households (two grids of 400); B holds 10
buildings of 40 households, a lake (absorbable) and a school of 1 ha (dedicated).
"""

from __future__ import annotations

import geopandas as gpd
import geopandas.testing
import pytest
import shapely
from shapely.geometry import Polygon, box

from gridgeo.coverage import check_coverage
from gridgeo.validate import validate_layers

X0, Y0 = 500_000.0, 4_000_000.0
WORK = "EPSG:4549"
A, B = "370203026002", "370203026004"


def at(geom):
    """A toy geometry (local metres) in the work CRS."""
    return shapely.affinity.translate(geom, X0, Y0)


def toy_layers() -> dict[str, gpd.GeoDataFrame]:
    """The toy district's input layers, in EPSG:4490 as a planner's files would be."""
    com = gpd.GeoDataFrame({"community_code": [A, B], "name": ["甲社区", "乙社区"]},
                           geometry=[at(box(0, 0, 400, 200)), at(box(400, 0, 800, 200))], crs=WORK)  # fmt: skip
    rows = []
    for x in (20, 60, 100, 140, 180, 220, 260, 300, 340, 380):
        for y in (50, 150):
            rows.append((f"A-{x}-{y}", 40, 100, box(x - 8, y - 8, x + 8, y + 8)))
    for x in (420, 460, 500, 540, 580):
        for y in (50, 150):
            rows.append((f"B-{x}-{y}", 40, 100, box(x - 8, y - 8, x + 8, y + 8)))
    bld = gpd.GeoDataFrame({"building_id": [r[0] for r in rows], "households": [r[1] for r in rows],
                            "residents": [r[2] for r in rows]},
                           geometry=[at(r[3]) for r in rows], crs=WORK)  # fmt: skip
    lu = gpd.GeoDataFrame({"landuse_id": ["L1", "S1"], "landuse_class": ["lake", "school"], "name": ["湖", "小学"]},
                          geometry=[at(box(620, 110, 690, 190)), at(box(700, 0, 800, 100))], crs=WORK)  # fmt: skip
    return {
        k: v.to_crs(4490) for k, v in {"communities": com, "buildings": bld, "landuse": lu}.items()
    }


def toy_grids(**override) -> gpd.GeoDataFrame:
    """The correct grid layer of the toy district (EPSG:4490); ``override`` replaces grids by id.

    ``override`` maps a grid id to a local-metre geometry (None drops the grid) or to a dict of
    attributes (with an optional ``geometry``).
    """
    from gridgeo.coding import assign_codes

    grids = {
        "A-C01": dict(community_code=A, grid_class="community", geometry=box(0, 0, 200, 200)),
        "A-C02": dict(community_code=A, grid_class="community", geometry=box(200, 0, 400, 200)),
        "B-C01": dict(community_code=B, grid_class="community",
                      geometry=box(400, 0, 800, 200).difference(box(700, 0, 800, 100))),
        "B-D01": dict(community_code=B, grid_class="dedicated", geometry=box(700, 0, 800, 100)),
    }  # fmt: skip
    base = gpd.GeoDataFrame([{"grid_id": k, **{a: v for a, v in d.items() if a != "geometry"}} for k, d in grids.items()],
                            geometry=[at(d["geometry"]) for d in grids.values()], crs=WORK)  # fmt: skip
    base = assign_codes(base)
    rows = []
    for rec in base.to_dict("records"):
        gid = rec["grid_id"]
        if gid in override:
            new = override.pop(gid)
            if new is None:
                continue
            if isinstance(new, dict):
                rec.update({k: (at(v) if k == "geometry" else v) for k, v in new.items()})
            else:
                rec["geometry"] = at(new)
        rows.append(rec)
    for gid, new in override.items():  # extra grids
        rows.append(
            {
                "grid_id": gid,
                "grid_class": "community",
                **{k: (at(v) if k == "geometry" else v) for k, v in new.items()},
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WORK).to_crs(4490)


@pytest.fixture(scope="module")
def toy():
    return validate_layers(toy_layers())


def local(geom_series: gpd.GeoSeries):
    """Findings' geometries back in local metres."""
    return [
        None if g is None else shapely.affinity.translate(g, -X0, -Y0)
        for g in geom_series.to_crs(WORK)
    ]


def found(report, defect):
    f = report.findings[report.findings["defect"] == defect]
    return f, local(f.geometry)


def test_correct_layer_is_proved(toy):
    report = check_coverage(toy_grids(), toy, codes=True)
    assert report.ok
    assert report.findings.empty
    assert report.stats["covered_m2"] == pytest.approx(report.stats["jurisdiction_m2"], abs=1.0)
    assert "PROVED" in report.to_markdown()


BOW_TIE = Polygon([(0, 0), (200, 200), (200, 0), (0, 200)])
HOLE = box(10, 40, 30, 60)
PIECE = box(380, 180, 400, 200)
B_FULL = box(400, 0, 800, 200)
B_GRID = B_FULL.difference(box(700, 0, 800, 100))

# name: (overrides, rule, severity, defect, where the finding must be: a local box)
DEFECTS = {
    "gap": ({"A-C02": box(210, 0, 400, 200)}, "R5", "blocking", "gap", box(199, 0, 211, 200)),
    "overlap": ({"A-C01": box(0, 0, 200, 200).union(box(200, 0, 220, 30))}, "R5", "blocking", "overlap",
                box(199, 0, 221, 31)),
    "double_building": ({"A-C01": box(0, 0, 230, 200)}, "R5", "blocking", "double_building", box(212, 42, 228, 58)),
    "straddle": ({"A-C02": box(200, 0, 450, 200), "B-C01": B_GRID.difference(box(400, 0, 450, 200))}, "R2",
                 "blocking", "straddle", box(399, 0, 451, 200)),
    "outside": ({"A-C01": box(0, -30, 200, 200)}, "R2", "blocking", "outside", box(0, -31, 200, 1)),
    "stray_building": ({"A-C01": box(0, 0, 200, 200).difference(HOLE)}, "R5", "blocking", "stray_building", HOLE),
    "unabsorbed": ({"B-C01": B_GRID.difference(box(620, 110, 690, 190))}, "R3", "blocking", "unabsorbed",
                   box(619, 109, 691, 191)),
    "dedicated_in_community": ({"B-C01": B_FULL, "B-D01": None}, "R4", "blocking", "dedicated_in_community",
                               box(699, 0, 800, 101)),
    "oversize": ({"A-C01": box(0, 0, 400, 200), "A-C02": None}, "R1", "blocking", "oversize", box(0, 0, 400, 200)),
    "undersize": ({"A-C01": box(0, 0, 100, 200), "A-C02": box(100, 0, 400, 200)}, "R1", "blocking", "undersize",
                  box(0, 0, 100, 200)),
    "undersize_flagged": ({"A-C01": {"geometry": box(0, 0, 100, 200), "flag": "below_band"},
                           "A-C02": box(100, 0, 400, 200)}, "R1", "warning", "undersize", box(0, 0, 100, 200)),
    "multipart": ({"A-C01": box(0, 0, 200, 200).union(PIECE), "A-C02": box(200, 0, 400, 200).difference(PIECE)},
                  "R5", "blocking", "multipart", PIECE),
    "invalid": ({"A-C01": BOW_TIE}, "R5", "blocking", "invalid", box(95, 95, 105, 105)),
    "wrong_community": ({"A-C01": {"community_code": B}}, "R2", "blocking", "wrong_community", box(0, 0, 200, 200)),
    "code_missing": ({"A-C01": {"grid_code": None}}, "R8", "blocking", "code_missing", box(0, 0, 200, 200)),
    "code_invalid": ({"A-C01": {"grid_code": "37020302600210010"}}, "R8", "blocking", "code_invalid", box(0, 0, 200, 200)),
    "code_duplicate": ({"A-C02": {"grid_code": "3702030260021001000"}}, "R8", "blocking", "code_duplicate",
                       box(200, 0, 400, 200)),
    "code_community": ({"A-C01": {"grid_code": "3702030260041005000"}}, "R8", "blocking", "code_community",
                       box(0, 0, 200, 200)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(DEFECTS))
def test_each_defect_is_found_where_it_is(toy, name):
    overrides, rule, severity, defect, where = DEFECTS[name]
    layer = toy_grids(**{k: v for k, v in overrides.items()})
    before = layer.copy()
    report = check_coverage(layer, toy, codes=True)
    f, geoms = found(report, defect)
    assert len(f) >= 1, report.findings[["defect", "message"]]
    assert set(f["rule"]) == {rule}
    assert set(f["severity"]) == {severity}
    assert report.ok is (severity != "blocking" and report.blocking.empty)
    # Located: the finding's geometry lies where the defect was made, and lon/lat point there.
    zone = where.buffer(0.5)
    hits = [
        g
        for g in geoms
        if g is not None
        and (zone.intersection(g).area >= 0.99 * g.area if g.area else zone.contains(g))
    ]
    assert hits, [g.wkt[:120] for g in geoms]
    row = f.iloc[[geoms.index(h) for h in hits][0]]
    pt = gpd.GeoSeries([shapely.Point(row["lon"], row["lat"])], crs=4326).to_crs(WORK).iloc[0]
    assert where.buffer(0.5).contains(shapely.affinity.translate(pt, -X0, -Y0))
    assert len(row["message"]) > 30 and row["message"].endswith(".")
    # The caller's frame is untouched.
    gpd.testing.assert_geodataframe_equal(layer, before)


def test_findings_carry_grid_and_community(toy):
    layer = toy_grids(
        **{"A-C02": box(200, 0, 450, 200), "B-C01": B_GRID.difference(box(400, 0, 450, 200))}
    )
    f = check_coverage(layer, toy).findings
    row = f[f["defect"] == "straddle"].iloc[0]
    assert (row["grid_id"], row["community_code"], row["related_id"]) == ("A-C02", A, B)
    assert f.crs.equals(layer.crs)


def test_summary_totals_per_rule_and_community(toy):
    layer = toy_grids(**{"A-C02": box(210, 0, 400, 200), "B-C01": B_FULL, "B-D01": None})
    report = check_coverage(layer, toy)
    by_rule = report.by_rule().set_index("rule")
    assert by_rule.loc["R5", "blocking"] >= 1 and by_rule.loc["R4", "blocking"] == 1
    by_com = report.by_community().set_index("community_code")
    assert by_com.loc[A, "blocking"] >= 1 and by_com.loc[B, "R4"] == 1
    md = report.to_markdown()
    assert "REFUTED" in md and "Totals per rule" in md and "Totals per community" in md


def test_tolerance_ignores_digitising_noise(toy):
    sliver = {"A-C02": box(200.004, 0, 400, 200)}  # a 0.8 m² sliver along the shared border
    assert check_coverage(toy_grids(**sliver), toy, tolerance_m2=1.0).ok
    assert not check_coverage(toy_grids(**sliver), toy, tolerance_m2=0.5).ok


def test_layer_without_crs_is_an_input_error(toy):
    from gridgeo.errors import InputError

    layer = toy_grids().set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="no CRS"):
        check_coverage(layer, toy)


@pytest.mark.parametrize("name", ["gap", "overlap"])
def test_blocking_finding_is_in_chinese_under_zh(toy, name):
    from gridgeo.i18n import set_language

    overrides = DEFECTS[name][0]
    english = found(check_coverage(toy_grids(**overrides), toy), name)[0]["message"].iloc[0]
    set_language("zh")
    try:
        chinese = found(check_coverage(toy_grids(**overrides), toy), name)[0]["message"].iloc[0]
    finally:
        set_language("en")
    assert chinese != english
    assert "网格" in chinese and "：" in chinese
    # The placeholders were filled: the grid ids of the English message are in the Chinese one.
    ids = {"A-C02"} if name == "gap" else {"A-C01", "A-C02"}
    assert all(i in chinese for i in ids), chinese


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_every_finding_is_in_chinese_under_zh(toy, name):
    """What a planner reads in coverage.md and the findings layer: each defect's finding in Chinese."""
    import re

    from gridgeo.i18n import set_language

    overrides, _rule, _severity, defect, _where = DEFECTS[name]
    set_language("zh")
    try:
        report = check_coverage(toy_grids(**overrides), toy, codes=True)
    finally:
        set_language("en")
    messages = found(report, defect)[0]["message"]
    assert len(messages), name
    for message in messages:
        assert re.search(r"[\u4e00-\u9fff]", message), message
        # No English sentence left: only ids, codes, classes and units may be Latin.
        assert not re.search(r"\b(?:Grid|grid|lies|holds|the|of|in)\b", message), message


def test_coverage_md_headings_are_chinese_under_zh(toy):
    from gridgeo.i18n import set_language

    report = check_coverage(toy_grids(**DEFECTS["gap"][0]), toy)
    assert report.to_markdown().startswith("# Coverage proof: REFUTED")
    set_language("zh")
    try:
        md = report.to_markdown()
    finally:
        set_language("en")
    assert md.startswith("# 覆盖证明：")
    assert "## 问题清单" in md and "## Findings" not in md
    assert "| 规则 | 内容 | 阻断 | 警告 |" in md and "全覆盖" in md and "阻断性问题" in md
    assert "| rule |" not in md and "blocking finding" not in md
