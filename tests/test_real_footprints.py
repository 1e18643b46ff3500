"""Real footprints (momepy's Bubeneč, Prague): what a street office checks on the grid map."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridgeo.partition import partition_district
from gridgeo.schema import normalise_landuse_class
from gridgeo.synth import bubenec_layers
from gridgeo.units import UnitOptions, build_units
from gridgeo.validate import distribute_census, estimate_households, validate_layers


@pytest.fixture(scope="module")
def real_layers():
    return bubenec_layers(seed=0)


@pytest.fixture(scope="module")
def real_district(real_layers):
    return validate_layers(real_layers)


@pytest.fixture(scope="module")
def real_result(real_district):
    return partition_district(real_district, time_limit=0.2)


def test_no_unit_edge_crosses_a_footprint(real_district, real_result):
    units = real_result.units.units
    bld = real_district.buildings
    home = real_result.units.building_unit.set_index("building_id")["unit_id"]
    geom = units.set_index("unit_id").geometry
    own = geom.loc[home.loc[bld["building_id"]].to_numpy()].values
    inside = shapely.area(shapely.intersection(bld.geometry.values, own))
    # Outside its own unit a footprint may only reach land-use units (a site drawn across it:
    # no tessellation can mend that) or where it overlaps another footprint.
    landuse = shapely.union_all(units.geometry.values[units["block_id"] == ""])
    fps = bld.geometry.values
    tree = shapely.STRtree(fps)
    crossed = shapely.intersects(fps, landuse.boundary)
    for i, fp in enumerate(fps):
        if crossed[i]:
            continue
        others = [fps[j] for j in tree.query(fp, predicate="intersects") if j != i]
        rest = shapely.difference(shapely.difference(fp, own[i]), landuse)
        rest = shapely.difference(rest, shapely.union_all(others)) if others else rest
        assert rest.area <= 0.05, bld["building_id"].iloc[i]
    assert inside.sum() / bld.geometry.area.sum() >= 0.999


def test_footprints_lie_in_their_grids(real_district, real_result):
    grids = real_result.grids.to_crs(real_district.communities.crs).set_index("grid_id").geometry
    gid = real_result.buildings.set_index("building_id")["grid_id"]
    bld = real_district.buildings
    geoms = grids.loc[gid.loc[bld["building_id"]].to_numpy()].values
    share = shapely.area(shapely.intersection(bld.geometry.values, geoms)) / bld.geometry.area.to_numpy()
    assert (share >= 0.95).all()


def test_every_dedicated_site_is_a_grid_or_a_finding(real_district):
    # A floor above the office and the market: both become located R4 findings.
    opts = UnitOptions(dedicated_floor_m2={"office_building": 1000.0, "market": 5000.0})
    r = partition_district(real_district, unit_options=opts, time_limit=0.1)
    lu = real_district.landuse
    with_grid = set(r.grids.loc[r.grids["grid_class"] == "dedicated", "landuse_id"])
    told = r.findings[r.findings["rule"] == "R4"]
    assert set(lu["landuse_id"]) <= with_grid | set(told["feature_id"])
    assert {"BUB-LU2", "BUB-LU3"} <= set(told["feature_id"])
    assert told["message"].str.contains("community grid").all()
    assert told.geometry.notna().all() and told["lon"].notna().all()


def test_dedicated_grid_over_the_band_is_flagged(real_district, real_result):
    g = real_result.grids[real_result.grids["grid_class"] == "dedicated"]
    over = g[g["households"] > 500]
    assert (over["flag"].str.contains("dedicated_over_band")).all()
    # Without a floor, even the 322 m² office is a dedicated grid of its own.
    assert "BUB-LU2" in set(g["landuse_id"])


def test_outputs_valid_in_the_output_crs_and_equal_to_the_input(real_layers, real_result):
    grids = real_result.grids
    assert grids.crs.equals(real_layers["communities"].crs)
    assert grids.is_valid.all()
    metric = real_result.units.units.crs
    com = real_layers["communities"].to_crs(metric)
    g = grids.to_crs(metric)
    for code, poly in zip(com["community_code"], com.geometry, strict=True):
        union = shapely.union_all(g.geometry.values[g["community_code"] == code])
        diff = shapely.symmetric_difference(union, poly)
        assert diff.area <= 1.0
        # No sliver wider than 1 mm.
        assert shapely.buffer(diff, -0.0005).is_empty


def test_same_inputs_same_units(real_district):
    a, b = build_units(real_district), build_units(real_district)
    assert a.units["unit_id"].tolist() == b.units["unit_id"].tolist()
    assert shapely.to_wkb(a.units.geometry.values).tolist() == shapely.to_wkb(b.units.geometry.values).tolist()


def test_estimated_households_are_marked(real_layers, real_result):
    bld = real_layers["buildings"]
    assert bld["households_estimated"].all()
    assert real_result.buildings["households_estimated"].all()
    raw = bld.drop(columns=["households", "residents", "households_estimated"])
    out = estimate_households(raw, floor_area_m2=70.0, household_size=2.3)
    assert "households" not in raw.columns  # the input is not modified
    assert (out["households"] == bld["households"]).all()


def test_known_counts_are_not_estimated(real_layers):
    bld = real_layers["buildings"].drop(columns=["households_estimated"]).copy()
    bld.loc[bld.index[:3], "households"] = [7, 8, 9]
    bld["households"] = bld["households"].astype(float)
    bld.loc[bld.index[3:], "households"] = np.nan
    out = estimate_households(bld.drop(columns=["residents"]))
    assert out["households"].iloc[:3].tolist() == [7, 8, 9]
    assert out["households_estimated"].iloc[3:].all()


def test_census_totals_are_shared_exactly(real_layers):
    com = real_layers["communities"]
    totals = pd.DataFrame({"community_code": [*com["community_code"], "370203026099"],
                           "households": [1001, 777, 12, 50], "residents": [2500, 1800, 30, 90]})  # fmt: skip
    bld = real_layers["buildings"].drop(columns=["households", "residents"])
    extra = gpd.GeoDataFrame({"community_code": ["370203026099"]},
                             geometry=[shapely.box(14.0, 50.0, 14.001, 50.001)], crs=com.crs)  # fmt: skip
    out, findings = distribute_census(bld, totals, communities=pd.concat([com, extra]))
    pts = gpd.GeoDataFrame(geometry=out.representative_point(), crs=out.crs)
    j = gpd.sjoin(pts.assign(hh=out["households"], rs=out["residents"]), com, predicate="within")
    sums = j.groupby("community_code")[["hh", "rs"]].sum()
    assert sums.loc[com["community_code"], "hh"].tolist() == [1001, 777, 12]
    assert sums.loc[com["community_code"], "rs"].tolist() == [2500, 1800, 30]
    assert out["households_estimated"].all()
    assert findings["feature_id"].tolist() == ["370203026099"]


@pytest.mark.parametrize(
    ("raw", "cls"),
    [("construction", "construction_site"), ("wood", "forest"), ("grass", "green_space"),
     ("commercial", "office_building"), ("retail", "market"), ("university", "school"),
     ("college", "school"), ("marketplace", "market"), ("basin", "reservoir"), ("pond", "lake"),
     ("landuse=forest", "forest"), ("amenity=school", "school"), ("leisure:park", "park"),
     ("natural=water", "water")],
)  # fmt: skip
def test_openstreetmap_landuse_values_are_recognised(raw, cls):
    assert normalise_landuse_class(raw) == cls


def test_unknown_landuse_skipped_with_a_finding_and_degenerate_building_dropped(real_layers):
    layers = dict(real_layers)
    lu = real_layers["landuse"].copy()
    lu.loc[lu.index[0], "landuse_class"] = "landuse=residential"
    layers["landuse"] = lu
    b = real_layers["buildings"].copy()
    spike = shapely.Polygon([(14.39, 50.1), (14.3901, 50.1), (14.39, 50.1), (14.39, 50.1)])
    ghost = gpd.GeoDataFrame({"building_id": ["ghost"], "households": [0], "residents": [0],
                              "levels": [1], "households_estimated": [True]},
                             geometry=[spike], crs=b.crs)  # fmt: skip
    layers["buildings"] = pd.concat([b, ghost], ignore_index=True)
    with pytest.raises(Exception, match="unknown landuse_class"):
        validate_layers(layers)
    d = validate_layers(layers, skip_unknown_landuse=True)
    f = d.findings.set_index("feature_id")
    assert f.loc[lu["landuse_id"].iloc[0], "rule"] == "input.landuse"
    assert f.loc["ghost", "rule"] == "input.geometry"
    assert "ghost" not in set(d.buildings["building_id"])
    assert len(d.landuse) == len(lu) - 1


def test_load_district_estimates_or_shares_census_counts(real_layers, tmp_path):
    from gridgeo.io import LayerSource
    from gridgeo.validate import HouseholdEstimate, load_district

    path = tmp_path / "real.gpkg"
    bare = real_layers["buildings"].drop(columns=["households", "residents", "households_estimated"])
    bare.to_file(path, layer="buildings")
    real_layers["communities"].to_file(path, layer="communities")
    sources = {n: LayerSource(path, n) for n in ("communities", "buildings")}
    d = load_district(sources, estimate=HouseholdEstimate(floor_area_m2=70.0, household_size=2.3))
    assert d.buildings["households_estimated"].all()
    assert d.buildings["households"].sum() == real_layers["buildings"]["households"].sum()
    codes = list(real_layers["communities"]["community_code"])
    census = pd.DataFrame({"community_code": codes, "households": [900, 1300, 800],
                           "residents": [2000, 3000, 1900]})  # fmt: skip
    d = load_district(sources, census=census)
    sums = d.buildings.groupby("community_code")["households"].sum()
    assert sums.loc[codes].tolist() == [900, 1300, 800]


def test_a_grid_has_a_hole_only_around_a_dedicated_grid(real_district, real_result):
    grids = real_result.grids.to_crs(real_district.communities.crs)
    ded = shapely.union_all(grids.geometry.values[grids["grid_class"] == "dedicated"])
    u = real_result.units.units
    land = shapely.union_all(u.geometry.values[u["kind"].isin(["absorbable", "minor_dedicated"])])
    for geom in grids.geometry[grids["grid_class"] == "community"]:
        for ring in geom.interiors:
            hole = shapely.Polygon(ring)
            filled = shapely.area(shapely.intersection(hole, shapely.union(ded, land)))
            assert filled >= 0.99 * hole.area


def test_community_grids_are_compact(real_district, real_result):
    # Polsby-Popper 4 pi A / P^2 of every community grid (the goal: mean >= 0.5, min >= 0.2).
    g = real_result.grids[real_result.grids["grid_class"] == "community"].to_crs(real_district.communities.crs)
    pp = 4 * np.pi * g.area / g.length**2
    assert pp.min() >= 0.25, g.loc[pp.idxmin(), "grid_id"]
    assert pp.mean() >= 0.5


def test_every_block_of_at_most_500_households_is_one_grid(real_district, real_result):
    # A block within the band is never split, and neither is a smaller one. Also in the community of 534 households no number of grids fits: one grid of 534,
    # flagged with its reason, keeps its blocks whole rather than two grids of 267.
    u = real_result.units.units
    grid_of = real_result.assignment.set_index("unit_id")["grid_id"]
    b = u[u["block_id"] != ""]
    per = b.assign(grid=grid_of.loc[b["unit_id"]].to_numpy()).groupby("block_id").agg(
        hh=("households", "sum"), grids=("grid", "nunique"))  # fmt: skip
    small = per[per["hh"].between(1, 500)]
    assert len(small) >= 4
    assert (small["grids"] == 1).all(), small[small["grids"] > 1]
    widened = real_result.grids[real_result.grids["flag"].str.contains("band_widened")]
    assert len(widened) == 1 and widened["households"].iloc[0] == 534
    assert "closest legal alternative" in " ".join(real_result.report["notes"])


def test_a_site_drawn_short_of_its_streets_reaches_them(real_district, real_result):
    # The park is drawn 1 m inside its streets: that strip belongs to its dedicated grid
    # (no community grid wraps round the park as a ribbon) and holds no footprint.
    u = real_result.units.units
    park = u[(u["kind"] == "dedicated") & (u["landuse_id"] == "BUB-LU4")]
    site = real_district.landuse.set_index("landuse_id").geometry["BUB-LU4"]
    strip = shapely.difference(shapely.union_all(park.geometry.values), site)
    assert strip.area > 100.0
    reach = shapely.buffer(site, 3.0 + 0.01, join_style="mitre")
    assert shapely.difference(strip, reach).area < 1.0  # beyond it: only slivers (< 1 m²) absorbed
    assert not shapely.intersects(strip, real_district.buildings.geometry.values).any()
    g = real_result.grids.to_crs(real_district.communities.crs)
    ded = g[g["landuse_id"] == "BUB-LU4"].geometry.iloc[0]
    assert ded.covers(shapely.buffer(strip, -0.01))


def test_grid_boundaries_follow_the_streets(real_district, real_result):
    # The goal: at least 75 % of the boundary between the grids of one community runs
    # within 10 m of a street or river. An empty lot between a school and its street joins
    # the school's grid, so their boundary is the street and not the school's fence.
    d = real_district
    zone = shapely.buffer(shapely.union_all([*d.roads.geometry, *d.rivers.geometry]), 10.0)
    grids = real_result.grids.to_crs(d.communities.crs)
    com = d.communities.set_index("community_code").geometry
    total = near = 0.0
    for code, g in grids.groupby("community_code"):
        inner = shapely.difference(shapely.union_all(shapely.boundary(g.geometry.values)),
                                   shapely.buffer(com[code].boundary, 0.01))  # fmt: skip
        total += inner.length
        near += shapely.intersection(inner, zone).length
    assert total > 1000.0
    assert near / total >= 0.75
    u = real_result.units.units.set_index("unit_id")
    ded = real_result.assignment[real_result.assignment["grid_id"].str.contains("-D")]
    joined = u.loc[ded["unit_id"]]
    lots = joined[joined["kind"] != "dedicated"]
    assert len(lots) and (lots["households"] == 0).all() and (lots["residents"] == 0).all()


def test_a_rerun_gives_a_site_back_its_empty_lot(real_district, real_result):
    # R8: a re-run of unchanged communities keeps every grid, the lots that joined a site included.
    prior = dict(zip(real_result.assignment["unit_id"], real_result.assignment["grid_id"], strict=True))
    again = partition_district(real_district, units=real_result.units, prior=prior, time_limit=0.2)
    a = real_result.assignment.set_index("unit_id")["grid_id"]
    b = again.assignment.set_index("unit_id")["grid_id"].loc[a.index]
    assert (a == b).all(), a[a != b]
    community = again.grids[again.grids["grid_class"] == "community"]
    assert community["solver_status"].isin(["kept", "optimal"]).all()
    assert (community["solver_status"] == "kept").sum() >= 5
