"""gridgeo.edit: every operation of a review session and its refusals, as properties of the plan."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pyogrio
import pytest
from _review_sample import DATE, OPTIONS, district, sample_output
from geopandas.testing import assert_geodataframe_equal

from gridgeo import edit
from gridgeo.coding import CodeRegistry
from gridgeo.coding.changelog import read_changes
from gridgeo.errors import InputError


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("review")


@pytest.fixture
def review(base):
    return edit.open_review(sample_output(base), district(), options=OPTIONS)


def community_grids(rv, community=None):
    t = rv.table()
    t = t[t["grid_class"] == "community"]
    if community is not None:
        t = t[t["community_code"] == community]
    return list(t["grid_id"])


def legal_moves(rv):
    """(unit, target) pairs of inhabited units a move would accept, found on a scratch copy."""
    scratch = edit.open_review(rv.out, rv.district, options=rv.options)
    found = []
    for gid in community_grids(scratch):
        for u in scratch.members(gid):
            if scratch._counts["households"][u] == 0:
                continue
            for t in scratch.unit_targets(u):
                if scratch.move(unit_ids=[u], to_grid=t).ok:
                    found.append((u, t))
                    scratch.undo()
    return found


def unit_graph(rv, uids):
    g = nx.Graph()
    g.add_nodes_from(uids)
    g.add_edges_from((a, b) for a in uids for b in rv._adj[a] if b in set(uids))
    return g


def assert_plan_legal_shape(rv):
    """Every unit in exactly one grid, every community grid in one community and one piece."""
    plan = {u: rv.grid_of(u) for u in rv.units.units["unit_id"]}
    assert set(plan.values()) == set(rv.table()["grid_id"])
    for gid in community_grids(rv):
        members = rv.members(gid)
        assert len({rv._community[u] for u in members}) == 1
        assert nx.is_connected(unit_graph(rv, members))


def test_open_refuses_a_folder_without_a_run(tmp_path):
    with pytest.raises(InputError, match="grids.gpkg"):
        edit.open_review(tmp_path, district(), options=OPTIONS)


def test_a_move_changes_both_grids_counts_and_keeps_the_total(review):
    unit, target = legal_moves(review)[0]
    source = review.grid_of(unit)
    before = review.table().set_index("grid_id")["households"]
    hh = review._counts["households"][unit]
    out = review.move(unit_ids=[unit], to_grid=target)
    assert out.ok and out.moved == (unit,)
    after = review.table().set_index("grid_id")["households"]
    assert after[source] == before[source] - hh and after[target] == before[target] + hh
    assert after.sum() == before.sum()
    checks = {c.grid_id: c for c in out.grids}
    assert set(checks) == {source, target}
    for gid, c in checks.items():
        assert c.connected and c.households == after[gid]
        assert c.in_band == (OPTIONS.lower <= c.households <= OPTIONS.upper)
        assert bool(c.reasons) == (not c.in_band)
    assert_plan_legal_shape(review)


def test_a_move_is_refused_for_a_unit_of_another_community(review):
    grids = review.table()
    com = grids[grids["grid_class"] == "community"]
    a, b = com.iloc[0], com[com["community_code"] != com.iloc[0]["community_code"]].iloc[0]
    unit = review.members(a["grid_id"])[0]
    out = review.move(unit_ids=[unit], to_grid=b["grid_id"])
    assert not out.ok and "R2" in out.reasons[0]
    assert review.grid_of(unit) == a["grid_id"] and not review.changes


def test_a_move_is_refused_into_or_out_of_a_locked_grid(review):
    unit, target = legal_moves(review)[0]
    source = review.grid_of(unit)
    for locked in (source, target):
        review.lock(locked)
        out = review.move(unit_ids=[unit], to_grid=target)
        assert not out.ok and "locked" in out.reasons[0]
        assert review.grid_of(unit) == source
        review.unlock(locked)
    assert review.move(unit_ids=[unit], to_grid=target).ok


def test_a_move_that_cuts_a_grid_in_two_is_refused(review):
    cut = None
    for gid in community_grids(review):
        members = review.members(gid)
        for u in nx.articulation_points(unit_graph(review, members)):
            targets = [t for t in review.unit_targets(u) if t in community_grids(review)]
            if targets:
                cut = (u, targets[0], gid)
                break
        if cut:
            break
    assert cut is not None, "the sample has a unit whose removal cuts its grid"
    unit, target, source = cut
    out = review.move(unit_ids=[unit], to_grid=target)
    assert not out.ok and "R5" in out.reasons[0]
    assert review.grid_of(unit) == source and not review.can_undo


def test_a_move_to_a_grid_it_does_not_touch_is_refused(review):
    for gid in community_grids(review):
        for u in review.members(gid):
            far = [t for t in community_grids(review, review._community[u])
                   if t != gid and t not in review.unit_targets(u)]  # fmt: skip
            if far and len(review.members(gid)) > 1:
                out = review.move(unit_ids=[u], to_grid=far[0])
                assert not out.ok and "R5" in out.reasons[0]
                assert review.grid_of(u) == gid
                return
    pytest.skip("every unit of the sample touches every grid of its community")


def test_dedicated_grids_and_emptying_moves_are_refused(review):
    t = review.table()
    ded = t[t["grid_class"] == "dedicated"].iloc[0]
    unit = review.members(ded["grid_id"])[0]
    targets = review.unit_targets(unit)
    assert targets
    out = review.move(unit_ids=[unit], to_grid=targets[0])
    assert not out.ok and "dedicated" in out.reasons[0]
    grid = community_grids(review)[0]
    target = review.neighbours(grid)[0]
    out = review.move(unit_ids=review.members(grid), to_grid=target)
    assert not out.ok and "empty" in out.reasons[0]


def test_unknown_ids_raise_input_errors(review):
    with pytest.raises(InputError):
        review.move(unit_ids=["no-such-unit"], to_grid=community_grids(review)[0])
    with pytest.raises(InputError):
        review.lock("no-such-grid")
    with pytest.raises(InputError):
        review.move(building_id="no-such-building", to_grid=community_grids(review)[0])
    with pytest.raises(InputError, match="exactly one"):
        review.move(to_grid=community_grids(review)[0])


def test_moving_a_building_moves_its_unit_and_a_block_stays_within_the_streets(review):
    unit, target = legal_moves(review)[0]
    bu = review.units.building_unit
    building = bu.loc[bu["unit_id"] == unit, "building_id"].iloc[0]
    out = review.move(building_id=building, to_grid=target)
    assert out.ok and out.moved == (unit,)
    assert review.grid_of(unit) == target
    review.undo()
    blk = review.block(unit)
    assert unit in blk and len({review.grid_of(u) for u in blk}) == 1
    crossing = [(a, b) for a in blk for b in blk if frozenset((a, b)) in review._along]
    assert not crossing
    assert nx.is_connected(unit_graph(review, blk))


def test_rebalance_holds_locked_grids_and_brings_the_rest_into_the_band(review):
    moves = legal_moves(review)
    # A community of three grids or more: lock one, unbalance the other two, rebalance.
    by_com = review.table().query("grid_class == 'community'").groupby("community_code")["grid_id"].apply(list)
    com = next(c for c, g in by_com.items() if len(g) >= 3)
    unit, target = next((u, t) for u, t in moves if review._community[u] == com)
    keep = next(g for g in by_com[com] if g not in (review.grid_of(unit), target))
    review.lock(keep)
    held = review.members(keep)
    review.move(unit_ids=[unit], to_grid=target)
    total = review.table().query("community_code == @com")["households"].sum()
    out = review.rebalance(com)
    assert out.ok
    assert review.members(keep) == held and keep in review.locked
    t = review.table().query("community_code == @com")
    assert t["households"].sum() == total
    free = t[(t["grid_class"] == "community") & ~t["locked"]]
    assert free["in_band"].all() and free["connected"].all()
    assert_plan_legal_shape(review)


def test_rebalance_is_refused_when_every_grid_is_locked(review):
    com = review.table().iloc[0]["community_code"]
    for g in community_grids(review, com):
        review.lock(g)
    out = review.rebalance(com)
    assert not out.ok and "no unlocked grid" in out.reasons[0]


def test_rebalance_is_deterministic(base):
    plans = []
    for _ in range(2):
        rv = edit.open_review(sample_output(base), district(), options=OPTIONS)
        unit, target = legal_moves(rv)[0]
        rv.move(unit_ids=[unit], to_grid=target)
        rv.rebalance(rv._community[unit])
        plans.append({u: rv.grid_of(u) for u in rv.units.units["unit_id"]})
    assert plans[0] == plans[1]


def test_merge_adds_the_counts_and_refuses_grids_that_do_not_touch(review):
    a = community_grids(review)[0]
    b = next(g for g in review.neighbours(a) if g in community_grids(review))
    ha, hb = (review.check(g).households for g in (a, b))
    out = review.merge(a, b)
    assert out.ok and out.grids[0].households == ha + hb and out.grids[0].connected
    assert b not in set(review.table()["grid_id"])
    review.undo()
    far = [g for g in community_grids(review) if g != a and g not in review.neighbours(a)]
    out = review.merge(a, far[0])
    assert not out.ok and ("R5" in out.reasons[0] or "R2" in out.reasons[0])


def test_split_makes_two_connected_grids_with_the_same_total(review):
    gid = max(community_grids(review), key=lambda g: review.check(g).households)
    total = review.check(gid).households
    out = review.split(gid)
    assert out.ok and len(out.grids) == 2
    assert sum(c.households for c in out.grids) == total
    assert all(c.connected for c in out.grids)
    review.lock(gid)
    assert not review.split(gid).ok


def test_undo_and_redo_restore_the_plan(review):
    start = review.table()
    unit, target = legal_moves(review)[0]
    review.move(unit_ids=[unit], to_grid=target)
    moved = review.table()
    review.lock(target)
    assert review.undo().ok and review.undo().ok
    pd.testing.assert_frame_equal(review.table(), start)
    assert not review.undo().ok
    assert review.redo().ok
    pd.testing.assert_frame_equal(review.table(), moved)
    assert review.redo().ok and target in review.locked
    assert not review.redo().ok


def test_approve_writes_the_grids_keeps_unchanged_codes_and_records_the_change(review):
    before = pyogrio.read_dataframe(review.out / "grids.gpkg", layer="grids").set_index("grid_id")
    unit, target = legal_moves(review)[0]
    source = review.grid_of(unit)
    review.move(unit_ids=[unit], to_grid=target)
    res = review.approve(by="王主任", date=DATE)
    assert res.ok and res.coverage.ok and res.approval == 1
    after = pyogrio.read_dataframe(review.out / "grids.gpkg", layer="grids").set_index("grid_id")
    hh = review._counts["households"][unit]
    assert after.loc[source, "households"] == before.loc[source, "households"] - hh
    assert after.loc[target, "households"] == before.loc[target, "households"] + hh
    for gid in set(before.index) - {source, target}:
        assert after.loc[gid, "grid_code"] == before.loc[gid, "grid_code"]
    assert after["grid_code"].is_unique
    changes = read_changes(review.out / "registry.sqlite")
    assert len(changes) == 1
    row = changes.iloc[0]
    assert (row["by"], row["op"], row["from_grid_id"], row["to_grid_id"]) == ("王主任", "move", source, target)
    assert row["units"] == unit and row["to_code"] == after.loc[target, "grid_code"]
    # The unit and building tables follow the grids.
    ug = pd.read_csv(review.out / "unit_grid.csv", dtype=str)
    assert ug.set_index("unit_id").loc[unit, "grid_id"] == target
    bg = pd.read_csv(review.out / "building_grid.csv", dtype={"building_id": str, "grid_id": str})
    counts = bg.groupby("grid_id")["households"].sum()
    assert counts[target] == after.loc[target, "households"]
    # A code that changed has its lineage in the registry; the session starts anew from the approval.
    with CodeRegistry(review.out / "registry.sqlite") as reg:
        for gid in (source, target):
            old = before.loc[gid, "grid_code"]
            if old != after.loc[gid, "grid_code"]:
                assert reg.record(old).status == "retired"
    assert not review.changes and not review.can_undo


def test_codes_history_lists_the_approved_edit(review, capsys):
    from gridgeo.cli import main

    unit, target = legal_moves(review)[0]
    review.move(unit_ids=[unit], to_grid=target)
    res = review.approve(by="tester", date=DATE)
    code = res.grids.set_index("grid_id").loc[target, "grid_code"]
    assert main(["codes", "history", code, "--registry", str(review.out / "registry.sqlite")]) == 0
    printed = capsys.readouterr().out
    assert "approved #1" in printed and "by tester" in printed and target in printed


def test_approve_refuses_grids_out_of_band_and_writes_nothing(review):
    # Empty the smaller of two grids of a community into the other until it falls out of band.
    files = {p.name: p.read_bytes() for p in review.out.iterdir() if p.is_file()}
    table = review.table()
    in_band = set(table.groupby("community_code")["in_band"].all().loc[lambda s: s].index)
    for u, t in legal_moves(review):
        src = review.grid_of(u)
        if review._community[u] not in in_band:
            continue  # a community no number of grids fits: the proof accepts grids out of band there
        if review.check(t).households + review._counts["households"][u] > OPTIONS.upper or \
                review.check(src).households - review._counts["households"][u] < OPTIONS.lower:  # fmt: skip
            review.move(unit_ids=[u], to_grid=t)
            checks = [review.check(g) for g in (src, t)]
            if not all(c.in_band for c in checks):
                break
            review.undo()
    else:
        pytest.skip("no single move takes a grid of the sample out of band")
    res = review.approve(by="tester")
    assert not res.ok and res.reasons and not res.written
    assert {p.name: p.read_bytes() for p in review.out.iterdir() if p.is_file()} == files


def test_approve_needs_a_name_and_the_folder_lock(review):
    with pytest.raises(InputError, match="who approves"):
        review.approve(by=" ")
    from gridgeo.errors import GridgeoError
    from gridgeo.io import output_lock

    with output_lock(review.out), pytest.raises(GridgeoError, match="another gridgeo run"):
        review.approve(by="tester")


def test_edits_leave_the_inputs_and_the_callers_frames_unchanged(review):
    d = district()
    buildings, communities = d.buildings.copy(), d.communities.copy()
    grids = review.grids()
    unit, target = legal_moves(review)[0]
    review.move(unit_ids=[unit], to_grid=target)
    review.rebalance(review._community[unit])
    review.grids()
    assert_geodataframe_equal(d.buildings, buildings)
    assert_geodataframe_equal(d.communities, communities)
    assert "edited" not in set(grids["solver_status"])


def test_the_fallback_split_gives_two_connected_halves():
    # A path of units whose weights no band of the partitioner's tries can halve.
    g = nx.path_graph(["a", "b", "c", "d", "e"])
    nx.set_node_attributes(g, {"a": 1, "b": 1, "c": 90, "d": 1, "e": 1}, "households")
    nx.set_edge_attributes(g, 1.0, "edge_cost")
    plan = edit._tree_split(g, "households")
    parts = [[n for n in g if plan[n] == p] for p in (0, 1)]
    assert all(parts) and all(nx.is_connected(g.subgraph(p)) for p in parts)
