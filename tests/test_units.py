"""Units tile each community exactly, hold each building once, and have symmetric edges."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgeo.units import UnitOptions, build_units, community_graph, street_blocks


@pytest.fixture(scope="module")
def sample_units(sample_district):
    return build_units(sample_district.subset(sorted(sample_district.communities["community_code"])[:6]))


def test_units_tile_each_community_exactly(sample_district, sample_units):
    u = sample_units.units
    com = sample_district.communities.set_index("community_code")
    for code, part in u.groupby("community_code"):
        poly = com.geometry[code]
        union = shapely.union_all(part.geometry.values)
        assert shapely.symmetric_difference(union, poly).area <= 1.0, code
        # No overlap: the areas add up to the community's.
        assert part.geometry.area.sum() == pytest.approx(poly.area, abs=1.0), code


def test_each_building_lies_in_one_unit(sample_district, sample_units):
    bu = sample_units.building_unit
    codes = set(sample_units.units["community_code"])
    bld = sample_district.buildings[sample_district.buildings["community_code"].isin(codes)]
    assert not bu["building_id"].duplicated().any()
    assert set(bu["building_id"]) == set(bld["building_id"])
    geom = sample_units.units.set_index("unit_id").geometry
    homes = geom.loc[bu.set_index("building_id").loc[bld["building_id"], "unit_id"]].values
    share = shapely.area(shapely.intersection(bld.geometry.values, homes)) / bld.geometry.area.to_numpy()
    assert (share > 0.99).all()


def test_edges_are_symmetric_and_once_per_pair(sample_units):
    e = sample_units.edges
    pairs = {frozenset(p) for p in zip(e["u"], e["v"], strict=True)}
    assert len(pairs) == len(e)  # each pair once, never (v, u) again
    assert (e["u"] != e["v"]).all()
    code = sample_units.units["community_code"].iloc[0]
    g = community_graph(sample_units, code)
    for a, b, d in g.edges(data=True):
        assert g.edges[b, a] == d
    geom = sample_units.units.set_index("unit_id").geometry
    row = e.iloc[0]
    ab = shapely.intersection(geom[row["u"]].boundary, geom[row["v"]].boundary).length
    ba = shapely.intersection(geom[row["v"]].boundary, geom[row["u"]].boundary).length
    assert ab == pytest.approx(ba, abs=0.01) == pytest.approx(row["shared_m"], abs=0.05)


def test_building_units_carry_their_street_block(sample_district, sample_units):
    u = sample_units.units
    b = u[u["kind"] == "building"]
    assert (b["block_id"] != "").all()
    assert all(k.startswith(f"{c}-K") for k, c in zip(b["block_id"], b["community_code"], strict=True))


def test_intra_block_edges_cost_more_than_street_edges():
    from shapely.geometry import LineString, box

    from gridgeo.units import _edges

    a, b, c = box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200)
    opts = UnitOptions()
    far = [LineString([(1000, 0), (1000, 100)])]
    e = _edges([a, b, c], ["a", "b", "c"], far, opts, blocks=["K1", "K1", "K2"]).set_index(["u", "v"])
    assert e.loc[("a", "b"), "cost"] == pytest.approx(100.0 * opts.block_cost)
    assert e.loc[("a", "c"), "cost"] == pytest.approx(100.0)


def test_street_blocks_tile_the_communities(sample_district):
    blocks = street_blocks(sample_district)
    com = sample_district.communities.set_index("community_code")
    for code, part in blocks.groupby("community_code"):
        assert part.geometry.area.sum() == pytest.approx(com.geometry[code].area, rel=1e-6)
    assert not blocks["block_id"].duplicated().any()
    assert np.all(blocks.geometry.area > 0)


@pytest.mark.parametrize("fail", ["simplify", "always"])
def test_a_tessellation_momepy_refuses_still_tiles_the_community(monkeypatch, fail):
    # Seen on 2 of 6,648 generated Qingdao communities: momepy's coverage simplification raised
    # "One of the Geometry inputs is of incorrect geometry type" and the community got no grid.
    import momepy

    from gridgeo.synth import bubenec_layers
    from gridgeo.validate import validate_layers

    real = momepy.enclosed_tessellation
    calls = []

    def flaky(*args, simplify=True, **kwargs):
        calls.append(simplify)
        if simplify or fail == "always":
            raise TypeError("One of the Geometry inputs is of incorrect geometry type.")
        return real(*args, simplify=simplify, **kwargs)

    monkeypatch.setattr(momepy, "enclosed_tessellation", flaky)
    district = validate_layers(bubenec_layers(seed=0))
    units = build_units(district)
    assert calls and False in calls
    u = units.units
    for code, poly in zip(district.communities["community_code"], district.communities.geometry, strict=True):
        mine = shapely.union_all(u.loc[u["community_code"] == code].geometry.values)
        assert shapely.symmetric_difference(mine, poly).area < 1.0
    assert units.building_unit["building_id"].is_unique
    assert set(units.building_unit["building_id"]) == set(district.buildings["building_id"])


def _school_along_the_edge(offset_m: float):
    """A district whose first community gets a school digitised ``offset_m`` inside one of its edges."""
    import geopandas as gpd
    import pandas as pd

    from gridgeo.synth import community_frame, generate_layers

    frame = community_frame(["370203026000"], seed=1).sort_values("community_code").head(2)
    layers = generate_layers(frame.reset_index(drop=True), seed=1, scale=0.3)
    com = layers["communities"].to_crs(4549)
    poly = com.geometry.iloc[0]
    ring = np.asarray(poly.exterior.coords if poly.geom_type == "Polygon" else poly.geoms[0].exterior.coords)
    k = int(np.argmax(np.hypot(*np.diff(ring, axis=0).T)))  # the longest edge
    a, b = ring[k], ring[k + 1]
    along = (b - a) / np.hypot(*(b - a))
    inward = np.array([-along[1], along[0]])
    if not poly.contains(shapely.Point(*(a + b) / 2 + 5 * inward)):
        inward = -inward
    p0, p1 = a + 0.2 * (b - a), a + 0.6 * (b - a)  # vertices mid-edge, none on the community's
    school = shapely.Polygon([p0 + offset_m * inward, p1 + offset_m * inward, p1 + 40 * inward, p0 + 40 * inward])
    lu = layers["landuse"]
    row = gpd.GeoDataFrame({"landuse_id": ["LU-EDGE"], "landuse_class": ["school"], "name": ["沿边学校"]},
                           geometry=gpd.GeoSeries([school], crs=4549).to_crs(lu.crs))  # fmt: skip
    layers["landuse"] = pd.concat([lu, row[list(lu.columns)]], ignore_index=True)
    between = shapely.Polygon([p0, p1, p1 + 2 * offset_m * inward, p0 + 2 * offset_m * inward])
    return layers, str(com["community_code"].iloc[0]), between


def test_a_site_a_hair_inside_the_boundary_leaves_no_strip_and_grids_stay_whole():
    """City defect (bench_city, 370283108233): a school 0.4 mm inside the village edge left a strip
    of land between them, part of a building's cell; in longitude/latitude the strip collapsed and
    the grid fell in two pieces (R5 multipart, proof REFUTED)."""
    from gridgeo.coverage import check_coverage
    from gridgeo.partition import partition_district
    from gridgeo.validate import validate_layers

    layers, code, between = _school_along_the_edge(0.0004)
    district = validate_layers(layers)
    units = build_units(district, None).units
    school = units[units["landuse_id"] == "LU-EDGE"]
    assert len(school) == 1
    assert units.crs.to_epsg() == 4549
    # No land of another unit between the school and the edge (before: a strip 0.4 mm wide).
    others = units[(units["community_code"] == code) & (units["landuse_id"] != "LU-EDGE")]
    strip = shapely.intersection(between, shapely.union_all(others.geometry.values)).area
    assert strip < 0.01 * between.area, f"a strip of {strip:.4f} m² stays between the school and the edge"
    result = partition_district(district, time_limit=0.05, seed=0, communities=[code])
    assert (result.grids.geometry.geom_type == "Polygon").all()
    assert result.grids.geometry.is_valid.all()
    assert check_coverage(result.grids, district.subset([code]), units=result.units).ok
