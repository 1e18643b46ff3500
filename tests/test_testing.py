"""gridgeo.testing: the seeded small district and the R1–R5 assertion a user's tests rely on."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridgeo.coverage import CoverageReport
from gridgeo.district import District
from gridgeo.divisions import load_divisions
from gridgeo.partition import partition_district
from gridgeo.synth import SAMPLE_STREETS
from gridgeo.testing import assert_grids_obey_rules, make_district

LAYERS = ("communities", "buildings", "landuse", "roads", "rivers")
#: The district's metric CRS (CGCS2000 / 3-degree GK CM 120°E): the damage is done in metres.
METRIC = "EPSG:4549"


@pytest.fixture(scope="module")
def district():
    return make_district(seed=0)


@pytest.fixture(scope="module")
def result(district):
    return partition_district(district, time_limit=0.05, seed=0)


# --- make_district --------------------------------------------------------------------------


def test_make_district_is_a_small_validated_district_of_real_communities(district):
    assert isinstance(district, District)
    assert district.work_crs.to_epsg() == 4549
    table = load_divisions()
    codes = district.communities["community_code"]
    assert len(codes) == 3 and codes.is_unique
    assert (table.loc[codes, "parent"] == SAMPLE_STREETS[0]).all()
    assert (district.communities["name"].to_numpy() == table.loc[codes, "name"].to_numpy()).all()
    assert len(district.buildings) > 0 and district.buildings["households"].sum() > 0
    # The communities kept are neighbours: one district, not scattered pieces.
    assert shapely.union_all(district.communities.geometry.values).geom_type == "Polygon"


def test_make_district_same_seed_same_frames(district):
    again = make_district(seed=0)
    for name in LAYERS:
        assert_geodataframe_equal(getattr(again, name), getattr(district, name))


def test_make_district_different_seed_different_frames(district):
    other = make_district(seed=1)
    for name in ("communities", "buildings"):
        with pytest.raises(AssertionError):
            assert_geodataframe_equal(getattr(other, name), getattr(district, name))


def test_make_district_options():
    villages = make_district(seed=0, street=SAMPLE_STREETS[1], n_communities=2)
    assert len(villages.communities) == 2 and villages.communities["is_village"].all()
    whole = make_district(seed=0, n_communities=None)
    assert len(whole.communities) == (load_divisions()["parent"] == SAMPLE_STREETS[0]).sum()
    with pytest.raises(ValueError, match="not a street/town code"):
        make_district(street="370203026002")  # a community, not a street
    with pytest.raises(ValueError, match="n_communities"):
        make_district(n_communities=0)


# --- assert_grids_obey_rules ----------------------------------------------------------------


def test_partitioner_output_obeys_the_rules(district, result):
    grids = result.grids
    before = grids.copy()
    report = assert_grids_obey_rules(grids, district, units=result.units)
    assert isinstance(report, CoverageReport) and report.ok
    # Without the units (a layer read back from a file), and in another CRS than the input's.
    assert grids.crs.to_epsg() == 4490
    assert_grids_obey_rules(grids.to_crs(district.work_crs), district)
    assert_geodataframe_equal(grids, before)


@pytest.mark.parametrize("seed, street", [(1, SAMPLE_STREETS[0]), (2, SAMPLE_STREETS[1])])
def test_partitioner_output_obeys_the_rules_on_other_draws(seed, street):
    district = make_district(seed, street=street, n_communities=4)
    result = partition_district(district, time_limit=0.05, seed=seed)
    assert assert_grids_obey_rules(result.grids, district, units=result.units).ok


def _touching(grids: gpd.GeoDataFrame, same_community: bool) -> tuple[int, int]:
    """Two community grids (metric CRS) sharing more than 10 m of border, in one community or two.

    In one community, those of the community with the most grids: merged, they break a band
    the community could hold.
    """
    com = grids[grids["grid_class"] == "community"]
    if same_community:
        com = com[com["community_code"] == com["community_code"].value_counts().index[0]]
    for i, a in com.iterrows():
        for j, b in com.iterrows():
            if i < j and (a["community_code"] == b["community_code"]) == same_community:
                # Neighbours in two communities need not share vertices: compare within 0.5 m.
                if a.geometry.boundary.intersection(b.geometry.buffer(0.5)).length > 10:
                    return i, j
    raise AssertionError("no such pair of grids in the test district")


def _merge(grids, same_community):
    grids = grids.to_crs(METRIC)
    i, j = _touching(grids, same_community)
    out = grids.drop(index=j)
    # Snapped to 1 mm: neighbours across a community line may differ by a micrometre.
    out.loc[i, "geometry"] = shapely.union(grids.geometry[i], grids.geometry[j], grid_size=1e-3)
    out.loc[i, "households"] = grids.loc[[i, j], "households"].sum()
    out.loc[i, "flag"] = ""
    return out


def _gap(grids, district):
    return grids.drop(index=grids.index[grids["grid_class"] == "community"][0])


def _straddle(grids, district):
    return _merge(grids, same_community=False)


def _oversize(grids, district):
    return _merge(grids, same_community=True)


def _overlap(grids, district):
    out = grids.to_crs(METRIC)
    i = out.index[out["grid_class"] == "community"][0]
    out.loc[i, "geometry"] = out.geometry[i].buffer(30.0)
    return out


def _unabsorbed(grids, district):
    absorbable = district.landuse[district.landuse["category"] == "absorbable"]
    land = shapely.union_all(absorbable.geometry.values)
    out = grids.to_crs(METRIC)
    out["geometry"] = out.geometry.difference(land)
    return out


def _dedicated_in_community(grids, district):
    # A dedicated grid merged into the community grid it borders most.
    grids = grids.to_crs(METRIC)
    ded = grids[grids["grid_class"] == "dedicated"].iloc[0]
    com = grids[
        (grids["grid_class"] == "community") & (grids["community_code"] == ded["community_code"])
    ]
    shared = com.geometry.boundary.intersection(ded.geometry.boundary).length
    host = shared.idxmax()
    out = grids.drop(index=ded.name)
    out.loc[host, "geometry"] = shapely.union(grids.geometry[host], ded.geometry)
    return out


@pytest.mark.parametrize(
    "damage, rule, defect",
    [
        (_gap, "R5", "gap"),
        (_overlap, "R5", "overlap"),
        (_straddle, "R2", "straddle"),
        (_oversize, "R1", "oversize"),
        (_unabsorbed, "R3", "unabsorbed"),
        (_dedicated_in_community, "R4", "dedicated_in_community"),
    ],
)
def test_broken_layer_fails_naming_the_rule(district, result, damage, rule, defect):
    grids = result.grids
    before = grids.copy()
    broken = damage(grids, district)
    broken_before = broken.copy()
    with pytest.raises(AssertionError, match=rf"(?m)^  {rule} {defect} \(") as err:
        assert_grids_obey_rules(broken, district)
    assert "blocking finding(s)" in str(err.value)
    assert_geodataframe_equal(grids, before)
    assert_geodataframe_equal(broken, broken_before)


def test_message_names_rule_grid_code_and_community(district, result):
    grids = result.grids.assign(
        grid_code=[f"{c}1{k:03d}000" for k, c in enumerate(result.grids["community_code"], 1)]
    )
    broken = _oversize(grids, district)
    kept, _ = _touching(grids.to_crs(METRIC), same_community=True)
    gid, code, com = broken.loc[kept, ["grid_id", "grid_code", "community_code"]]
    with pytest.raises(AssertionError) as err:
        assert_grids_obey_rules(broken, district)
    line = f"  R1 oversize (grid {gid} [{code}], community {com}): Grid {gid} holds "
    assert line in str(err.value)


def test_rule_selection(district, result):
    broken = _gap(result.grids, district)
    # A dropped grid leaves a gap and stray buildings (R5) and breaks nothing of R1, R2.
    report = assert_grids_obey_rules(broken, district, rules=("R1", "R2"))
    assert not report.ok and set(report.blocking["rule"]) == {"R5"}
    with pytest.raises(AssertionError, match="R5 gap"):
        assert_grids_obey_rules(broken, district, rules="R5")
    # R8 is checked only when asked for: the partitioner's grids carry no code yet.
    with pytest.raises(AssertionError, match="R8 code_missing"):
        assert_grids_obey_rules(result.grids, district, rules=("R8",))
    with pytest.raises(ValueError, match="rules must be among"):
        assert_grids_obey_rules(result.grids, district, rules=("R9",))
