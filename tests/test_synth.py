"""The seeded generator: determinism, the real frame (codes, names, county boundaries)."""

from __future__ import annotations

import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridgeo.divisions import division_code_problems as code_problems
from gridgeo.divisions import load_divisions
from gridgeo.synth import (
    OUTPUT_CRS,
    SAMPLE_STREETS,
    WORK_CRS,
    community_frame,
    county_boundaries,
    generate_layers,
)

#: 阜新路街道 (市北区): nine communities, some without a published centre point.
STREET = SAMPLE_STREETS[0]


@pytest.fixture(scope="module")
def street_layers():
    return generate_layers(community_frame([STREET], seed=0), seed=0)


def test_same_seed_same_frames(street_layers):
    again = generate_layers(community_frame([STREET], seed=0), seed=0)
    assert sorted(again) == sorted(street_layers)
    for name, gdf in street_layers.items():
        assert_geodataframe_equal(again[name], gdf)


def test_different_seed_different_frames(street_layers):
    other = generate_layers(community_frame([STREET], seed=1), seed=1)
    # The same real communities, differently drawn and filled.
    assert list(other["communities"]["community_code"]) == list(
        street_layers["communities"]["community_code"]
    )
    for name in ("communities", "buildings"):
        with pytest.raises(AssertionError):
            assert_geodataframe_equal(other[name], street_layers[name])


def test_community_frame_seed_moves_only_unpublished_centres():
    table = load_divisions()
    members = table[table["parent"] == STREET]
    assert members["longitude"].isna().any() and members["longitude"].notna().any()
    a = community_frame([STREET], seed=0)
    b = community_frame([STREET], seed=0)
    assert_geodataframe_equal(a, b)
    assert a["centre_real"].tolist() == members.sort_index()["longitude"].notna().tolist()


def test_unknown_street_is_refused():
    with pytest.raises(ValueError, match="not a street/town code"):
        community_frame(["370203026002"])  # a community, not a street


def test_sample_codes_and_names_are_real(sample_layers):
    table = load_divisions()
    com = sample_layers["communities"]
    assert com["community_code"].is_unique
    for code, name in zip(com["community_code"], com["name"], strict=True):
        assert code in table.index and table.at[code, "level"] == "village"
        assert table.at[code, "parent"] in SAMPLE_STREETS
        assert name == table.at[code, "name"]
        assert code_problems(code) == []
    # Every real member of the two streets is in the sample, none missing.
    expected = set(table.index[table["parent"].isin(SAMPLE_STREETS)])
    assert set(com["community_code"]) == expected


def test_sample_inside_the_real_county_boundaries(sample_layers):
    assert sample_layers["communities"].crs.equals(OUTPUT_CRS)
    counties = county_boundaries().to_crs(WORK_CRS)
    com = sample_layers["communities"].to_crs(WORK_CRS)
    for code, geom in zip(com["community_code"], com.geometry, strict=True):
        county = counties.loc[code[:6]].geometry
        # Clipped in GK metres, stored in longitude/latitude: allow 1 cm of reprojection drift.
        assert shapely.within(geom, county.buffer(0.01)), code
        assert geom.area > 10_000, code  # m²


def test_sample_buildings_carry_the_community_they_lie_in(sample_layers):
    com = sample_layers["communities"].set_index("community_code")
    bld = sample_layers["buildings"]
    assert bld["building_id"].is_unique and (bld["households"] > 0).all()
    assert (bld["residents"] >= bld["households"]).all()
    inside = shapely.within(
        shapely.point_on_surface(bld.geometry.values),
        com.geometry.loc[bld["community_code"]].values,
    )
    assert inside.all()


def test_sample_validates_with_no_error_and_no_finding(sample_layers, sample_district):
    # sample_district is validate_layers(sample_layers): it raised no InputError.
    assert len(sample_district.findings) == 0, sample_district.findings[
        ["rule", "feature_id", "message"]
    ]
    assert len(sample_district.buildings) == len(sample_layers["buildings"])
    assert (
        sample_district.buildings["households"].sum()
        == sample_layers["buildings"]["households"].sum()
    )
    assert (sample_district.buildings["community_code"] != "").all()
    assert len(sample_district.landuse) == len(sample_layers["landuse"])
    assert set(sample_district.landuse["category"]) == {"absorbable", "dedicated"}
