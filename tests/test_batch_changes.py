"""detect_changes and repartition: each change class found, grids and codes kept where they can be.

The previous run is three communities of 阜新路街道 partitioned and coded into a registry; each
test changes its input layers (EPSG:4490, as a planner's files are) the way a planner's next
year's data would, validates them and compares.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridgeo.batch import (
    CHANGE_COLUMNS,
    PreviousRun,
    community_outlines,
    detect_changes,
    repartition,
)
from gridgeo.coding import CodeRegistry, assign_codes
from gridgeo.coverage import check_coverage
from gridgeo.options import PartitionOptions
from gridgeo.partition import partition_district
from gridgeo.validate import validate_layers

#: 002 and 004 both border 017; 002 and 004 do not touch.
CODES = ["370203026002", "370203026004", "370203026017"]
NANSHAN, FUKANG, KANGPING = CODES
#: Well-formed codes of 阜新路街道 that the NBS table does not hold (so unused).
NEW_CODE, SPLIT_CODE = "370203026101", "370203026102"
TIME = 0.05
OPTS = PartitionOptions(time_limit=TIME)
DAY0, DAY1 = "2024-01-01", "2024-06-01"


def _subset_layers(layers: dict, codes: list[str]) -> dict:
    com = layers["communities"]
    com = com[com["community_code"].isin(codes)].reset_index(drop=True)
    area = com.union_all()
    out = {"communities": com}
    bld = layers["buildings"]
    out["buildings"] = bld[bld["community_code"].isin(codes)].reset_index(drop=True)
    for name in ("landuse", "roads"):
        g = layers[name]
        out[name] = g[g.intersects(area)].reset_index(drop=True)
    return out


def _copy(layers: dict) -> dict:
    return {k: v.copy() for k, v in layers.items()}


@pytest.fixture(scope="module")
def base(sample_layers, tmp_path_factory):
    """The previous run: layers, district, partition, coded grids, registry file."""
    layers = _subset_layers(sample_layers, CODES)
    district = validate_layers(layers)
    result = partition_district(district, time_limit=TIME)
    path = tmp_path_factory.mktemp("registry") / "base.sqlite"
    with CodeRegistry(path) as reg:
        coded = assign_codes(result.grids, registry=reg, date=DAY0)
    previous = PreviousRun(coded, result.buildings)
    return SimpleNamespace(layers=layers, district=district, result=result, coded=coded,
                           previous=previous, registry=path)  # fmt: skip


@pytest.fixture
def registry(base, tmp_path):
    """A copy of the previous run's registry, for one test to change."""
    path = tmp_path / "registry.sqlite"
    shutil.copy(base.registry, path)
    with CodeRegistry(path) as reg:
        yield reg


# -- the change classes, as a planner's new input layers ------------------------------------


def _free_square(base, code: str, size: float = 12.0):
    """A ``size`` m square in ``code``, clear of buildings and land use, in EPSG:4490."""
    d = base.district
    poly = d.communities.set_index("community_code").geometry[code].buffer(-10)
    blocked = shapely.union_all([*d.buildings.geometry.buffer(8), *d.landuse.geometry])
    x0, y0, x1, y1 = poly.bounds
    rng = np.random.default_rng(0)
    for _ in range(10_000):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        sq = shapely.box(x - size / 2, y - size / 2, x + size / 2, y + size / 2)
        if poly.contains(sq) and not sq.intersects(blocked):
            return gpd.GeoSeries([sq], crs=d.work_crs).to_crs(d.crs).iloc[0]
    raise AssertionError(f"no free site in {code}")


def _add_building(base, layers, code, households, bid, size=12.0):
    new = gpd.GeoDataFrame(
        [{"building_id": bid, "households": households, "residents": 3 * households,
          "community_code": code, "geometry": _free_square(base, code, size)}],
        crs=layers["buildings"].crs,
    )  # fmt: skip
    layers["buildings"] = pd.concat([layers["buildings"], new], ignore_index=True)


def _buildings_added(base):
    m = _copy(base.layers)
    _add_building(base, m, FUKANG, 60, f"{FUKANG}-B9001")
    return m


def _buildings_demolished(base):
    m = _copy(base.layers)
    b = m["buildings"]
    gone = b.loc[b["community_code"] == KANGPING, "building_id"].iloc[:2]
    m["buildings"] = b[~b["building_id"].isin(gone)].reset_index(drop=True)
    return m


def _counts_changed(base):
    """One more household in three buildings: a small change."""
    m = _copy(base.layers)
    b = m["buildings"]
    b.loc[b.index[b["community_code"] == NANSHAN][:3], "households"] += 1
    return m


def _insert_vertex(poly, p, q, new):
    cs = list(poly.exterior.coords)
    out = [cs[0]]
    for u, v in zip(cs[:-1], cs[1:], strict=True):
        if {u, v} == {p, q}:
            out.append(new)
        out.append(v)
    assert len(out) == len(cs) + 1, "the segment p-q is not on the ring"
    return shapely.Polygon(out, [r.coords for r in poly.interiors])


def _boundary_moved(base):
    """A new vertex in the middle of the 002/017 border, pushed about 18 m east: both change."""
    m = _copy(base.layers)
    c = m["communities"]
    ia = c.index[c["community_code"] == NANSHAN][0]
    ib = c.index[c["community_code"] == KANGPING][0]
    a, b = c.geometry[ia], c.geometry[ib]
    p, q = [v for v in a.exterior.coords[:-1] if v in set(b.exterior.coords)]
    mid = ((p[0] + q[0]) / 2 + 0.0002, (p[1] + q[1]) / 2)
    c.loc[ia, "geometry"] = _insert_vertex(a, p, q, mid)
    c.loc[ib, "geometry"] = _insert_vertex(b, p, q, mid)
    return m


def _recoded(base):
    m = _copy(base.layers)
    for name in ("communities", "buildings"):
        g = m[name]
        g.loc[g["community_code"] == FUKANG, "community_code"] = NEW_CODE
    return m


def _split(base):
    """017 split at its centroid's latitude: the south half becomes a new community."""
    m = _copy(base.layers)
    c = m["communities"]
    i = c.index[c["community_code"] == KANGPING][0]
    g = c.geometry[i]
    y = g.centroid.y
    x0, y0, x1, y1 = g.bounds
    south = g.intersection(shapely.box(x0 - 1, y0 - 1, x1 + 1, y))
    c.loc[i, "geometry"] = g.intersection(shapely.box(x0 - 1, y, x1 + 1, y1 + 1))
    row = gpd.GeoDataFrame(
        [{"community_code": SPLIT_CODE, "name": "康平路南社区居委会", "geometry": south}], crs=c.crs
    )
    m["communities"] = pd.concat([c, row], ignore_index=True)
    b = m["buildings"]
    b.loc[b.geometry.representative_point().within(south), "community_code"] = SPLIT_CODE
    return m


def _merged(base):
    """004 merged into 017 (017 keeps its code)."""
    m = _copy(base.layers)
    c = m["communities"]
    ia = c.index[c["community_code"] == FUKANG][0]
    ib = c.index[c["community_code"] == KANGPING][0]
    c.loc[ib, "geometry"] = shapely.union(c.geometry[ia], c.geometry[ib])
    m["communities"] = c.drop(index=ia).reset_index(drop=True)
    b = m["buildings"]
    b.loc[b["community_code"] == FUKANG, "community_code"] = KANGPING
    return m


def _overfull(base):
    """200 more households in the buildings of one grid of 002: it leaves the band (> 500)."""
    m = _copy(base.layers)
    c = base.coded
    mine = c[(c["community_code"] == NANSHAN) & (c["grid_class"] == "community")]
    grid = mine.sort_values(["households", "grid_id"]).iloc[0]
    bids = base.result.buildings.loc[
        base.result.buildings["grid_id"] == grid["grid_id"], "building_id"
    ]
    b = m["buildings"]
    idx = b.index[b["building_id"].isin(set(bids))]
    add = np.full(len(idx), 200 // len(idx))
    add[: 200 - add.sum()] += 1
    b.loc[idx, "households"] += add
    b.loc[idx, "residents"] += 3 * add
    assert grid["households"] + 200 > 500
    return m


def _grid_demolished(base):
    """Every building of one grid of 017 demolished: its ground goes to its neighbours."""
    m = _copy(base.layers)
    gid = f"{KANGPING}-C02"
    bids = base.result.buildings.loc[base.result.buildings["grid_id"] == gid, "building_id"]
    m["buildings"] = m["buildings"][~m["buildings"]["building_id"].isin(set(bids))]
    return m


SCENARIOS = {
    "added": _buildings_added,
    "demolished": _buildings_demolished,
    "counts": _counts_changed,
    "boundary": _boundary_moved,
    "recoded": _recoded,
    "split": _split,
    "merged": _merged,
    "overfull": _overfull,
    "grid_demolished": _grid_demolished,
}


@pytest.fixture(scope="module")
def districts(base):
    """Each scenario's new inputs, validated (cheap: three communities)."""
    return {name: validate_layers(make(base)) for name, make in SCENARIOS.items()}


# -- detect_changes ---------------------------------------------------------------------------

# status per community, the counts that must hold, and words the notes must contain.
EXPECTED = {
    "added": ({FUKANG: "changed"}, {FUKANG: {"buildings_added": 1, "buildings_removed": 0}},
              {FUKANG: "1 building(s) built"}),
    "demolished": ({KANGPING: "changed"}, {KANGPING: {"buildings_removed": 2, "buildings_added": 0}},
                   {KANGPING: "2 demolished"}),
    "counts": ({NANSHAN: "changed"}, {NANSHAN: {"counts_changed": 3}},
               {NANSHAN: "household counts changed in 3"}),
    "boundary": ({NANSHAN: "changed", KANGPING: "changed"}, {}, {NANSHAN: "boundary moved", KANGPING: "boundary moved"}),
    "recoded": ({FUKANG: "removed", NEW_CODE: "recoded"}, {NEW_CODE: {"recoded_from": FUKANG}},
                {FUKANG: f"re-coded to {NEW_CODE}", NEW_CODE: f"re-coded from {FUKANG}"}),
    "split": ({KANGPING: "changed", SPLIT_CODE: "new"}, {}, {SPLIT_CODE: f"made from {KANGPING}", KANGPING: "boundary moved"}),
    "merged": ({FUKANG: "removed", KANGPING: "changed"}, {}, {FUKANG: f"merged into {KANGPING}", KANGPING: "boundary moved"}),
    "overfull": ({NANSHAN: "changed"}, {}, {NANSHAN: "household counts changed"}),
    "grid_demolished": ({KANGPING: "changed"}, {}, {KANGPING: "demolished"}),
}  # fmt: skip


@pytest.mark.parametrize("outlines", [True, False], ids=["outlines", "grid-union"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_detect_changes_classifies(name, outlines, base, districts):
    # With the community outlines a run writes, and without them (an older output: the
    # outlines are then the union of each community's grids), the same changes are found.
    statuses, counts, notes = EXPECTED[name]
    new = districts[name]
    previous = base.previous
    if outlines:
        previous = PreviousRun(previous.grids, previous.buildings, community_outlines(base.district))
    ch = detect_changes(previous, new).set_index("community_code")
    assert list(ch.reset_index().columns) == CHANGE_COLUMNS
    want = {c: statuses.get(c, "unchanged") for c in sorted(set(CODES) | set(statuses))}
    assert ch["status"].to_dict() == want
    for code, cols in counts.items():
        for col, value in cols.items():
            assert ch.at[code, col] == value, (code, col)
    for code, words in notes.items():
        assert words in ch.at[code, "notes"], (code, ch.at[code, "notes"])
    # Households before/after are what the two runs hold.
    for code in ch.index:
        after = new.buildings.loc[new.buildings["community_code"] == code, "households"].sum()
        assert ch.at[code, "households_after"] == after
    if name == "boundary":
        assert ch.at[NANSHAN, "boundary_moved_m2"] > 100
        assert ch.at[NANSHAN, "boundary_moved_m2"] == ch.at[KANGPING, "boundary_moved_m2"]


def test_outlines_not_covering_every_grid_are_not_used(base, tmp_path):
    from gridgeo.batch import load_previous
    from gridgeo.io import write_layers

    outlines = community_outlines(base.district)
    write_layers({"grids": base.coded, "communities": outlines[outlines["community_code"] != NANSHAN]},
                 tmp_path / "grids.gpkg")  # fmt: skip
    base.result.buildings.to_csv(tmp_path / "building_grid.csv", index=False)
    assert load_previous(tmp_path).communities is None
    no_codes = outlines.rename(columns={"community_code": "code"})
    write_layers({"grids": base.coded, "communities": no_codes}, tmp_path / "grids.gpkg")
    assert load_previous(tmp_path).communities is None
    write_layers({"grids": base.coded, "communities": outlines}, tmp_path / "grids.gpkg")
    got = load_previous(tmp_path).communities
    assert got is not None and sorted(got["community_code"]) == sorted(CODES)


def test_outlines_survive_the_geopackage_bit_for_bit(tmp_path):
    # A GeoPackage layer holds one geometry type (mixed polygons are promoted to multi): the
    # outlines are compared as MultiPolygons on both sides, so an unchanged one is identical.
    from gridgeo.batch.changes import _multi
    from gridgeo.io import write_layers

    geoms = [shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 2, 3, 3), shapely.box(4, 4, 5, 5)])]
    g = gpd.GeoDataFrame({"community_code": ["a", "b"]}, geometry=geoms, crs=4490)
    write_layers({"communities": g}, tmp_path / "x.gpkg")
    back = pyogrio.read_dataframe(tmp_path / "x.gpkg", layer="communities")
    assert shapely.equals_identical(_multi(back.geometry.values), _multi(geoms)).all()
    assert not shapely.equals_identical(back.geometry.values[0], geoms[0])  # promoted on writing


def test_nothing_changed(base, registry):
    ch = detect_changes(base.previous, base.district)
    assert set(ch["status"]) == {"unchanged"}
    before = registry.codes()
    res = repartition(base.previous, base.district, registry=registry, options=OPTS, date=DAY1)
    assert res.result is None
    assert res.moved_share == 0.0
    assert_geodataframe_equal(res.grids, base.coded[res.grids.columns])
    pd.testing.assert_frame_equal(res.buildings, base.result.buildings)
    pd.testing.assert_frame_equal(registry.codes(), before)


# -- repartition ------------------------------------------------------------------------------


class _Reruns:
    """Each scenario re-partitioned once, on first use, into its own copy of the registry."""

    def __init__(self, base, districts, folder):
        self.base, self.districts, self.folder, self.done = base, districts, folder, {}

    def __getitem__(self, name):
        if name not in self.done:
            path = self.folder / f"{name}.sqlite"
            shutil.copy(self.base.registry, path)
            reg = CodeRegistry(path)
            prev_grids = self.base.previous.grids.copy()
            new = self.districts[name]
            res = repartition(self.base.previous, new, registry=reg, options=OPTS, date=DAY1)
            assert_geodataframe_equal(self.base.previous.grids, prev_grids)  # caller's frame kept
            self.done[name] = (res, reg, new)
        return self.done[name]


@pytest.fixture(scope="module")
def reruns(base, districts, tmp_path_factory):
    r = _Reruns(base, districts, tmp_path_factory.mktemp("reruns"))
    yield r
    for _, reg, _ in r.done.values():
        reg.close()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_repartition_invariants(name, base, reruns):
    res, reg, new = reruns[name]
    ch = res.changes.set_index("community_code")
    # Unchanged communities come out exactly as they were.
    same = sorted(ch.index[ch["status"] == "unchanged"])
    assert same, "every scenario leaves a community alone"
    got = res.grids[res.grids["community_code"].isin(same)].reset_index(drop=True)
    want = base.coded[base.coded["community_code"].isin(same)].reset_index(drop=True)
    assert_geodataframe_equal(got, want[got.columns])
    # Codes: unique, 19 digits, active, under the grid's community.
    codes = res.grids["grid_code"]
    assert codes.is_unique
    assert codes.str.fullmatch(r"\d{19}").all()
    assert (codes.str[:12] == res.grids["community_code"]).all()
    active = set(reg.codes(status="active")["code"])
    assert set(codes) <= active
    # Retired codes are never issued again; a previous code is either still used or retired.
    retired = set(reg.codes(status="retired")["code"])
    assert not set(codes) & retired
    assert set(base.coded["grid_code"]) <= set(codes) | retired
    assert active == set(codes), "an active code that no grid holds"
    # Every code this run retired says what became of its ground.
    now = reg.codes(status="retired")
    for code in now.loc[now["valid_to"] == DAY1, "code"]:
        lin = reg.lineage(code)
        assert (lin["old_code"] == code).any(), f"{code} retired without lineage"
    # Every building of the new inputs is in exactly one grid of its community.
    b = res.buildings
    assert b["building_id"].is_unique
    assert set(b["building_id"]) == set(new.buildings["building_id"])
    gcom = dict(zip(res.grids["grid_id"], res.grids["community_code"], strict=True))
    bcom = dict(zip(new.buildings["building_id"], new.buildings["community_code"], strict=True))
    assert all(gcom[g] == bcom[i] for i, g in zip(b["building_id"], b["grid_id"], strict=True))
    # The whole layer still tiles the communities within the band (R1-R5).
    verdict = check_coverage(res.grids, new)
    assert verdict.ok, verdict.findings[["rule", "message"]].to_string()
    assert 0.0 <= res.moved_share <= 1.0


def test_small_change_keeps_every_code(reruns):
    res, _, _ = reruns["counts"]
    row = res.changes.set_index("community_code").loc[NANSHAN]
    assert res.moved_share == 0.0
    assert row["codes_kept"] == row["grids_before"] == row["grids_after"]
    assert row["codes_issued"] == row["codes_retired"] == 0


@pytest.mark.parametrize("name", ["added", "demolished", "boundary"])
def test_moderate_change_keeps_codes(name, reruns):
    """A building more or less, a border moved by 18 m: every grid keeps its code."""
    res, _, _ = reruns[name]
    changed = res.changes[res.changes["status"] == "changed"]
    assert (changed["codes_kept"] == changed["grids_before"]).all()
    assert res.moved_share < 0.05


def test_overfull_grid_is_repaired_locally(reruns, base):
    res, _, _ = reruns["overfull"]
    row = res.changes.set_index("community_code").loc[NANSHAN]
    assert row["grids_kept"] >= row["grids_before"] - 2
    assert res.moved_share < 0.5
    assert res.result.report.set_index("community_code").at[NANSHAN, "status"] in (
        "kept",
        "repaired",
    )
    com = res.grids[
        (res.grids["community_code"] == NANSHAN) & (res.grids["grid_class"] == "community")
    ]
    assert com["households"].between(300, 500).all()


def test_recoded_community_moves_its_codes(reruns, base):
    res, reg, _ = reruns["recoded"]
    mine = res.grids[res.grids["community_code"] == NEW_CODE]
    old = base.coded[base.coded["community_code"] == FUKANG]
    assert len(mine) == len(old)
    assert res.moved_share == 0.0
    # Same serials under the new community code, lineage 'community_recoded'.
    assert sorted(mine["grid_code"].str[12:]) == sorted(old["grid_code"].str[12:])
    for code in old["grid_code"]:
        lin = reg.lineage(code)
        assert (lin["reason"] == "community_recoded").any()
        assert reg.record(code).status == "retired"


def test_split_grids_retire_with_lineage(reruns, base):
    res, reg, _ = reruns["split"]
    old = set(base.coded.loc[base.coded["community_code"] == KANGPING, "grid_code"])
    kept = old & set(res.grids["grid_code"])
    gone = old - kept
    assert gone and kept
    south = set(res.grids.loc[res.grids["community_code"] == SPLIT_CODE, "grid_code"])
    assert south and not south & old
    for code in sorted(gone):
        lin = reg.lineage(code)
        mine = lin[lin["old_code"] == code]
        assert len(mine), f"{code} retired without lineage"
        assert set(mine["new_code"]) <= set(res.grids["grid_code"])
        assert set(mine["reason"]) <= {"split", "merge", "boundary_change"}
    # A grid cut by the new border became several: at least one 'split' link.
    links = pd.concat([reg.lineage(c) for c in sorted(gone)])
    assert (links["reason"] == "split").any() or len(links) > len(gone)


def test_merged_community_codes_retire_into_the_survivor(reruns, base):
    res, reg, _ = reruns["merged"]
    old = base.coded.loc[base.coded["community_code"] == FUKANG, "grid_code"]
    survivor = set(res.grids.loc[res.grids["community_code"] == KANGPING, "grid_code"])
    for code in old:
        assert reg.record(code).status == "retired"
        lin = reg.lineage(code)
        assert set(lin.loc[lin["old_code"] == code, "new_code"]) <= survivor
        assert len(lin)
    # 017's own grids were all kept.
    own = set(base.coded.loc[base.coded["community_code"] == KANGPING, "grid_code"])
    assert own <= survivor


def test_vanished_community_keeps_its_codes_active(base, registry):
    """A community missing from the new files (no other community took its ground) does not
    retire its codes for ever: it is reported as gone."""
    m = _copy(base.layers)
    m["communities"] = m["communities"][m["communities"]["community_code"] != FUKANG]
    m["buildings"] = m["buildings"][m["buildings"]["community_code"] != FUKANG]
    new = validate_layers(m)
    res = repartition(base.previous, new, registry=registry, options=OPTS, date=DAY1)
    ch = res.changes.set_index("community_code")
    assert ch.at[FUKANG, "status"] == "removed"
    assert ch.at[FUKANG, "notes"] == "community gone"
    old = base.coded.loc[base.coded["community_code"] == FUKANG, "grid_code"]
    assert all(registry.record(c).status == "active" for c in old)


# -- the CLI ----------------------------------------------------------------------------------

CONFIG = """
[layers.communities]
path = "{0}"
layer = "communities"

[layers.buildings]
path = "{0}"
layer = "buildings"

[layers.landuse]
path = "{0}"
layer = "landuse"

[layers.roads]
path = "{0}"
layer = "roads"
"""


def _write_inputs(layers, folder, stem):
    from gridgeo.io import write_layers

    write_layers(layers, folder / f"{stem}.gpkg")
    cfg = folder / f"{stem}.toml"
    cfg.write_text(CONFIG.format(f"{stem}.gpkg"), encoding="utf-8")
    return str(cfg)


def test_cli_run_then_rerun(base, tmp_path):
    from gridgeo.cli import main

    old_cfg = _write_inputs(base.layers, tmp_path, "old")
    m = _buildings_demolished(base)
    _add_building(base, m, FUKANG, 60, f"{FUKANG}-B9001")
    new_cfg = _write_inputs(m, tmp_path, "new")
    run = ["--time-limit", str(TIME), "--date", DAY0, "--no-map"]
    out1, out2, out3 = tmp_path / "out1", tmp_path / "out2", tmp_path / "out3"
    assert main(["run", old_cfg, "--out", str(out1), *run]) == 0
    assert main(["run", old_cfg, "--out", str(out3), *run]) == 0
    shutil.copytree(out1, tmp_path / "out1b")
    for prev, out in ((out1, out2), (tmp_path / "out1b", tmp_path / "out2b")):
        assert main(["rerun", new_cfg, "--previous", str(prev), "--out", str(out),
                     "--time-limit", str(TIME), "--date", DAY1]) == 0  # fmt: skip
    for name in ("changes.csv", "changes.png", "grids.gpkg", "building_grid.csv"):
        assert (out2 / name).stat().st_size > 0, name
    ch = pd.read_csv(out2 / "changes.csv", dtype={"community_code": str}).set_index(
        "community_code"
    )
    assert ch["status"].to_dict() == {NANSHAN: "unchanged", FUKANG: "changed", KANGPING: "changed"}
    assert (out2 / "changes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The unchanged community's grids are written back as they were.
    from gridgeo.batch import load_previous

    before, after = load_previous(out1).grids, load_previous(out2).grids
    # Both runs leave the community outlines the next re-run compares with.
    for out in (out1, out2):
        assert sorted(load_previous(out).communities["community_code"]) == sorted(CODES)
    keep = [c for c in after.columns if c in before.columns]
    assert_geodataframe_equal(
        after[after["community_code"] == NANSHAN][keep].reset_index(drop=True),
        before[before["community_code"] == NANSHAN][keep].reset_index(drop=True),
    )
    # The proof covers the two re-partitioned communities; --full-proof covers all three.
    assert "grids tile the 2 communities" in (out2 / "coverage.md").read_text(encoding="utf-8")
    shutil.copytree(out1, tmp_path / "out1c")
    assert main(["rerun", new_cfg, "--previous", str(tmp_path / "out1c"), "--out", str(tmp_path / "out4"),
                 "--time-limit", str(TIME), "--date", DAY1, "--full-proof"]) == 0  # fmt: skip
    full = (tmp_path / "out4" / "coverage.md").read_text(encoding="utf-8")
    assert "# Coverage proof: PROVED" in full and "grids tile the 3 communities" in full
    assert (tmp_path / "out4" / "grids.gpkg").read_bytes() == (out2 / "grids.gpkg").read_bytes()
    # The same inputs, seed and date give the same file, byte for byte.
    assert (out1 / "grids.gpkg").read_bytes() == (out3 / "grids.gpkg").read_bytes()
    assert (out2 / "grids.gpkg").read_bytes() == (tmp_path / "out2b" / "grids.gpkg").read_bytes()


def test_load_previous_names_every_missing_file(tmp_path):
    from gridgeo.batch import load_previous
    from gridgeo.errors import InputError

    with pytest.raises(InputError) as err:
        load_previous(tmp_path)
    assert "grids.gpkg" in str(err.value) and "building_grid.csv" in str(err.value)
