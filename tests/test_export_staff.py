"""Staff assignment (S1): invariants a planner relies on, not one exact plan."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from gridgeo.coding import assign_codes
from gridgeo.errors import InputError
from gridgeo.export import StaffingError, assign_staff, check_roster, sample_roster

CAP = 1000


@pytest.fixture(scope="module")
def grids(sample_result):
    return assign_codes(sample_result.grids)


@pytest.fixture(scope="module")
def roster(grids):
    return sample_roster(grids, seed=1)


@pytest.fixture(scope="module")
def plan(grids, roster):
    before = roster.copy()
    gbefore = grids.copy()
    out = assign_staff(grids, roster, cap=CAP, time_limit=1.0, seed=0)
    assert_frame_equal(roster, before)
    assert grids.equals(gbefore)
    return out


def test_every_grid_has_a_full_time_worker(plan, grids):
    a = plan.assignments
    ft = a[a["role"].isin(["leader", "full_time"])]
    assert set(ft["grid_code"]) == set(grids["grid_code"])
    assert (ft["kind"] == "full_time").all()


def test_shared_grids_are_adjacent_same_community_and_under_cap(plan, grids):
    a = plan.assignments
    ft = a[a["role"].isin(["leader", "full_time"])]
    hh = dict(zip(grids["grid_code"], grids["households"], strict=True))
    com = dict(zip(grids["grid_code"], grids["community_code"], strict=True))
    adj = nx.Graph(plan.adjacency)
    shared = 0
    for _, mine in ft.groupby("worker_id"):
        codes = sorted(mine["grid_code"])
        if len(codes) < 2:
            continue
        shared += 1
        assert nx.is_connected(adj.subgraph(codes)), codes
        assert len({com[c] for c in codes}) == 1
        assert sum(hh[c] for c in codes) <= CAP
    assert shared == plan.report["shared_grids"] > 0  # the sample roster is short of one per grid


def test_leaders_and_instructors(plan, grids):
    a = plan.assignments
    for code, mine in a[a["role"] != "instructor"].groupby("grid_code"):
        leaders = mine[mine["role"] == "leader"]
        assert len(leaders) == (1 if len(mine) >= 2 else 0), code
    inst = a[a["role"] == "instructor"]
    assert set(inst["grid_code"]) == set(grids["grid_code"])  # every cluster has one
    assert (inst.groupby("grid_code").size() == 1).all()
    assert (plan.clusters["instructor_id"] != "").all()


def test_only_staff_fields_are_exported(plan):
    assert set(plan.assignments.columns) <= {
        "grid_code", "grid_id", "community_code", "community_name", "worker_id", "name", "phone",
        "kind", "role", "role_label", "duties", "photo", "qr_url", "travel_m",
    }  # fmt: skip


def test_short_roster_says_how_many_and_where(grids, roster):
    few = roster[roster["kind"] == "full_time"].head(60)
    with pytest.raises(StaffingError) as err:
        assign_staff(grids, few, time_limit=1.0)
    assert err.value.missing > 0
    assert f"{err.value.missing} full-time worker(s) short" in str(err.value)
    assert set(err.value.grids["grid_code"]) <= set(grids["grid_code"])
    assert err.value.grids["patch"].nunique() == err.value.missing


def test_one_worker_per_grid_when_enough(grids):
    small = grids[grids["community_code"] == grids["community_code"].iloc[0]]
    roster = sample_roster(small, seed=3, full_time=len(small), part_time=0, cadres=1)
    plan = assign_staff(small, roster, time_limit=1.0)
    ft = plan.assignments[plan.assignments["role"].isin(["leader", "full_time"])]
    assert ft.groupby("worker_id").size().max() == 1
    assert plan.report["shared_grids"] == 0


def test_same_roster_same_plan(grids):
    small = grids[grids["community_code"].str[:9] == grids["community_code"].iloc[0][:9]]
    roster = sample_roster(small, seed=5)
    a = assign_staff(small, roster, time_limit=1.0).assignments
    b = assign_staff(small, roster, time_limit=1.0).assignments
    assert_frame_equal(a, b)


def test_roster_problems_are_collected():
    bad = pd.DataFrame(
        {"工号": ["1", "1", "3"], "姓名": ["张三", "", "王五"], "电话": ["138-0000-0001", "138-0000-0002", ""],
         "类型": ["专职", "临时", "兼职"], "经度": ["120.3", "", "x"], "纬度": ["36.1", "", "36.1"]}
    )  # fmt: skip
    with pytest.raises(InputError) as err:
        check_roster(bad)
    text = str(err.value)
    for part in ("empty name", "unknown kind", "empty phone", "not a number", "more than once"):
        assert part in text
    good = check_roster(
        bad.assign(
            姓名=["张三", "李四", "王五"],
            电话="138",
            类型="兼职",
            经度="",
            纬度="",
            工号=["1", "2", "3"],
        )
    )
    assert list(good["kind"]) == ["part_time"] * 3


def test_part_time_workers_of_unknown_address_are_spread_over_grids_with_households(grids):
    """A grid nobody lives in (a hospital's dedicated grid) took 12 part-time workers whose address
    was unknown, and its board cut their duties short: such workers go where people live, evenly."""
    roster = sample_roster(grids, seed=1)
    part = roster["kind"] == "part_time"
    roster.loc[part, ["lon", "lat"]] = np.nan  # addresses unknown
    plan = assign_staff(grids, roster, time_limit=1.0)
    pt = plan.assignments[plan.assignments["role"] == "part_time"]
    empty = set(grids.loc[grids["households"] == 0, "grid_code"])
    assert len(pt) and not set(pt["grid_code"]) & empty
    per_grid = pt.groupby("grid_code").size()
    assert per_grid.max() - per_grid.min() <= 1 or per_grid.max() <= 2, per_grid.sort_values().tail()
