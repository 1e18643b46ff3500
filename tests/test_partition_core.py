"""The combinatorial core: every part connected and in the band, optimum where enumeration knows it."""

from __future__ import annotations

import copy

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridgeo.errors import InfeasibleError
from gridgeo.partition import SolveStatus, check_plan, partition_graph, solve_graph
from gridgeo.partition.heuristic import _order_key, bisection_plan
from gridgeo.synth import lattice_graph


def _weighted(graph: nx.Graph, weights: list[int]) -> nx.Graph:
    g = nx.Graph()
    for n, w in zip(sorted(graph.nodes), weights, strict=True):
        g.add_node(n, households=w)
    g.add_edges_from(graph.edges)
    return g


def _set_partitions(items: list):
    """Every partition of ``items`` into non-empty blocks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for sub in _set_partitions(rest):
        for i in range(len(sub)):
            yield sub[:i] + [[first, *sub[i]]] + sub[i + 1 :]
        yield [[first], *sub]


def _brute_force(g: nx.Graph, lower: int, upper: int, cost: str = "edge_cost") -> float | None:
    """The least cut cost over every legal plan, None when there is none."""
    best = None
    for blocks in _set_partitions(sorted(g.nodes)):
        ok = all(
            lower <= sum(g.nodes[n]["households"] for n in b) <= upper
            and nx.is_connected(g.subgraph(b))
            for b in blocks
        )
        if not ok:
            continue
        part = {n: i for i, b in enumerate(blocks) for n in b}
        c = sum(d.get(cost, 1.0) for u, v, d in g.edges(data=True) if part[u] != part[v])
        best = c if best is None else min(best, c)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_small_instances_reach_the_enumerated_optimum(seed):
    import random

    rnd = random.Random(seed)
    base = nx.grid_2d_graph(2, 4) if seed % 2 else nx.cycle_graph(8)
    g = _weighted(base, [rnd.randint(60, 200) for _ in range(8)])
    for u, v in g.edges:
        g.edges[u, v]["edge_cost"] = rnd.choice([1.0, 2.0, 3.5])
    lower, upper = 250, 450
    best = _brute_force(g, lower, upper)
    if best is None:
        with pytest.raises(InfeasibleError):
            solve_graph(g, "households", lower, upper, time_limit=2.0)
        return
    sol = solve_graph(g, "households", lower, upper, time_limit=2.0, seed=seed)
    assert check_plan(g, sol.assignment, "households", lower, upper) == []
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(side=st.integers(4, 14), seed=st.integers(0, 10_000))
def test_lattice_plans_are_connected_and_in_band(side, seed):
    g = lattice_graph(side, seed=seed)
    total = sum(d["households"] for _, d in g.nodes(data=True))
    if -(-total // 500) > total // 300:
        # No whole number of parts fits the band (e.g. 597 households: 1 part too big, 2 too small).
        with pytest.raises(InfeasibleError, match="no whole number of parts"):
            partition_graph(g, "households", 300, 500, seed=seed, time_limit=0.2)
        return
    plan = partition_graph(g, "households", 300, 500, seed=seed, time_limit=0.2)
    assert set(plan) == set(g.nodes)
    assert check_plan(g, plan, "households", 300, 500) == []


@pytest.mark.parametrize("side", [20, 30])
def test_large_lattices_use_the_heuristic_and_stay_legal(side):
    g = lattice_graph(side, seed=1)
    sol = solve_graph(g, "households", 300, 500, seed=0, time_limit=0.2)
    assert check_plan(g, sol.assignment, "households", 300, 500) == []
    total = sum(d["households"] for _, d in g.nodes(data=True))
    assert -(-total // 500) <= sol.n_parts <= total // 300


def test_n_parts_is_honoured():
    g = lattice_graph(8, seed=3)
    total = sum(d["households"] for _, d in g.nodes(data=True))
    lo, hi = -(-total // 500), total // 300
    for k in (lo, (lo + hi) // 2):
        plan = partition_graph(g, "households", 300, 500, n_parts=k, time_limit=0.3)
        assert len(set(plan.values())) == k
        assert check_plan(g, plan, "households", 300, 500) == []


def test_edge_cost_steers_the_cut():
    # Two 3x3 blocks joined by a column of edges; cutting along the cheap seam is optimal.
    g = nx.grid_2d_graph(3, 6)
    for n in g.nodes:
        g.nodes[n]["households"] = 50
    for u, v in g.edges:
        g.edges[u, v]["edge_cost"] = 0.1 if {u[1], v[1]} == {2, 3} else 5.0
    plan = partition_graph(g, "households", 400, 500, time_limit=1.0)
    left = {plan[n] for n in g if n[1] <= 2}
    right = {plan[n] for n in g if n[1] >= 3}
    assert len(left) == 1 and len(right) == 1 and left != right


def test_same_seed_same_plan_and_input_untouched():
    g = lattice_graph(12, seed=5)
    before = copy.deepcopy(g)
    a = partition_graph(g, "households", 300, 500, seed=7, time_limit=0.2)
    b = partition_graph(g, "households", 300, 500, seed=7, time_limit=0.2)
    assert a == b
    assert nx.utils.graphs_equal(g, before)
    assert all(g.nodes[n] == before.nodes[n] for n in g)


def test_disconnected_components_are_partitioned_apart():
    a = lattice_graph(5, seed=1)
    b = nx.relabel_nodes(lattice_graph(5, seed=2), lambda n: ("b", *n))
    g = nx.union(a, b)
    plan = partition_graph(g, "households", 300, 500, time_limit=0.2)
    assert check_plan(g, plan, "households", 300, 500) == []
    assert not {plan[n] for n in a} & {plan[n] for n in b}


def test_node_above_upper_bound_is_named():
    g = lattice_graph(4, seed=0)
    g.nodes[(2, 1)]["households"] = 620
    with pytest.raises(InfeasibleError, match=r"\(2, 1\).*620 > upper bound 500"):
        partition_graph(g, "households", 300, 500)


def test_total_no_number_of_parts_fits():
    g = nx.path_graph(4)
    for n, w in zip(g.nodes, [130, 130, 130, 130], strict=True):
        g.nodes[n]["households"] = w
    # 520 households: one part is too big, two are too small.
    with pytest.raises(InfeasibleError, match="no whole number of parts"):
        partition_graph(g, "households", 300, 500)


def test_contiguity_makes_a_band_infeasible():
    # A star: the centre must join one leaf, the other leaves would be parts of 200 alone.
    g = nx.star_graph(3)
    for n in g.nodes:
        g.nodes[n]["households"] = 200
    with pytest.raises(InfeasibleError):
        partition_graph(g, "households", 350, 450, time_limit=1.0)


def test_n_parts_out_of_reach():
    g = lattice_graph(4, seed=0)
    with pytest.raises(InfeasibleError, match="out of reach"):
        partition_graph(g, "households", 300, 500, n_parts=40)


@pytest.mark.parametrize("bad", [-3, 2.5, None])
def test_bad_weights_are_refused(bad):
    g = lattice_graph(3, seed=0)
    g.nodes[(0, 0)]["households"] = bad
    with pytest.raises(InfeasibleError, match=r"\(0, 0\)"):
        partition_graph(g, "households", 300, 500)


def test_bisection_plan_is_a_legal_warm_start():
    g = lattice_graph(16, seed=9)
    w = {n: d["households"] for n, d in g.nodes(data=True)}
    plan = bisection_plan(g, w, 300, 500, seed=1)
    assert plan is not None
    assert check_plan(g, plan, "households", 300, 500) == []
    # Parts are numbered by their lowest node (in gridgeo's stable node order).
    firsts = [
        _order_key(min((n for n in g if plan[n] == p), key=_order_key))
        for p in sorted(set(plan.values()))
    ]
    assert firsts == sorted(firsts)


def test_check_plan_reports_what_is_wrong():
    g = nx.path_graph(3)
    for n in g:
        g.nodes[n]["households"] = 200
    problems = check_plan(g, {0: 0, 1: 1, 2: 0}, "households", 300, 500)
    assert any("not connected" in p for p in problems)
    assert any("weighs 200" in p for p in problems)


def test_search_window_merges_fixed_units_into_connected_nodes():
    from gridgeo.partition._lns import _Problem, _window

    g = nx.grid_2d_graph(4, 12)
    w = {n: 10 for n in g}
    plan = {n: 0 if n[1] < 6 else 1 for n in g}  # two 4x6 blocks, seam between columns 5 and 6
    cost = {frozenset((u, v)): 1.0 + u[0] for u, v in g.edges}
    free = {n for n in g if 3 <= n[1] <= 8}
    win = _window(_Problem(g, w, 0, 1000, cost), plan, (0, 1), list(g), free)
    # Every unit in exactly one model node, weights kept, the free units alone, the rest merged.
    flat = [n for m in win.members for n in m]
    assert sorted(flat) == sorted(g) and len(flat) == len(set(flat))
    assert sum(win.weights) == sum(w.values())
    assert {m[0] for i, m in enumerate(win.members) if i not in win.fixed} == free
    merged = [m for i, m in enumerate(win.members) if i in win.fixed]
    assert len(merged) == 2 and all(nx.is_connected(g.subgraph(m)) for m in merged)
    # Fixed nodes come first, pinned to their part, and each is the root of its part.
    assert sorted(win.fixed) == [0, 1] and sorted(win.roots.values()) == [0, 1]
    for i, m in enumerate(win.members):
        assert len({plan[n] for n in m}) == 1
        assert win.hint[i] == win.hint[0] or {plan[n] for n in m} != {plan[win.members[0][0]]}
    # The model's cut is the units' cut, parallel edges summed.
    cut = sum(c for i, j, c in win.edges if win.hint[i] != win.hint[j])
    assert cut == pytest.approx(
        sum(cost[frozenset((u, v))] for u, v in g.edges if plan[u] != plan[v])
    )


def test_small_budget_skips_the_exact_model_and_says_so():
    g = lattice_graph(5, seed=2)
    small = solve_graph(g, "households", 300, 500, seed=0, time_limit=0.02)
    large = solve_graph(g, "households", 300, 500, seed=0, time_limit=2.0)
    for sol in (small, large):
        assert check_plan(g, sol.assignment, "households", 300, 500) == []
    assert small.status == SolveStatus.HEURISTIC and small.bound is None
    assert large.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE) and large.bound is not None
    assert large.objective <= small.objective + 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_ordered_roots_model_proves_the_enumerated_optimum(seed):
    # The labeling model with ordered roots and root fixing (off by default) must keep every plan
    # the plain model has: on 9-node graphs it proves the optimum found by enumeration, at a
    # fixed count and over a range, and infeasibility exactly when enumeration finds no plan.
    import random

    from gridgeo.partition._cpsat import solve_partition

    rnd = random.Random(seed)
    base = nx.grid_2d_graph(3, 3) if seed % 2 else nx.circular_ladder_graph(4).subgraph(range(7)).copy()
    g = _weighted(base, [rnd.randint(40, 200) for _ in range(len(base))])
    nodes = sorted(g.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    for u, v in g.edges:
        g.edges[u, v]["edge_cost"] = rnd.choice([1.0, 2.0, 3.5])
    edges = sorted((min(index[u], index[v]), max(index[u], index[v]), d["edge_cost"]) for u, v, d in g.edges(data=True))
    weights = [g.nodes[n]["households"] for n in nodes]
    lower, upper = (150, 330) if seed < 4 else (250, 450)
    for k_min, k_max in ((2, 2), (3, 3), (2, 4)):
        best = None
        for blocks in _set_partitions(nodes):
            if not k_min <= len(blocks) <= k_max:
                continue
            if all(lower <= sum(g.nodes[n]["households"] for n in b) <= upper and nx.is_connected(g.subgraph(b)) for b in blocks):
                part = {n: i for i, b in enumerate(blocks) for n in b}
                c = sum(d["edge_cost"] for u, v, d in g.edges(data=True) if part[u] != part[v])
                best = c if best is None else min(best, c)
        res = solve_partition(weights, edges, lower, upper, k_min, k_max, deterministic_time=5.0, seed=seed, ordered_roots=True)
        if best is None:
            assert res.status == SolveStatus.INFEASIBLE
            continue
        assert res.status == SolveStatus.OPTIMAL
        assert res.objective == pytest.approx(best)
        plan = {n: res.assignment[index[n]] for n in nodes}
        assert check_plan(g, plan, "households", lower, upper) == []
        assert len(set(plan.values())) in range(k_min, k_max + 1)


def _proof_instance(seed: int) -> nx.Graph:
    import random

    rnd = random.Random(seed)
    base = nx.grid_2d_graph(3, 3) if seed % 2 else nx.circular_ladder_graph(4)
    g = _weighted(base, [rnd.randint(40, 200) for _ in range(len(base))])
    for u, v in g.edges:
        g.edges[u, v]["edge_cost"] = rnd.choice([1.0, 2.0, 3.5])
    return g


@pytest.mark.parametrize("seed", range(6))
def test_proof_step_proves_the_enumerated_optimum(seed, monkeypatch):
    # The proof step (search, then the exact model with ordered roots in root_order's order and
    # the LP at level 2) must keep the optimum: with the plain exact path switched off, a plan
    # reported optimal is the optimum found by enumeration, and its bound is that optimum.
    from gridgeo.partition import core

    monkeypatch.setattr(core, "EXACT_LIMIT", 0)
    monkeypatch.setattr(core, "PROOF_MIN_BUDGET", 0.3)
    g = _proof_instance(seed)
    lower, upper = (150, 330) if seed < 3 else (250, 450)
    best = _brute_force(g, lower, upper)
    if best is None:
        pytest.skip("no legal plan on this instance")
    sol = solve_graph(g, "households", lower, upper, time_limit=0.3, seed=seed)
    assert check_plan(g, sol.assignment, "households", lower, upper) == []
    assert sol.status == SolveStatus.OPTIMAL
    assert sol.objective == pytest.approx(best)
    assert sol.bound == pytest.approx(best)


def test_no_proof_step_below_its_budget(monkeypatch):
    # Below PROOF_MIN_BUDGET (the default 0.5 and the city's 0.02) a component the plain exact
    # path leaves out is only searched: no proof is tried, so the status stays heuristic.
    from gridgeo.partition import core

    monkeypatch.setattr(core, "EXACT_LIMIT", 0)
    g = _proof_instance(1)
    sol = solve_graph(g, "households", 150, 330, time_limit=0.3, seed=1)
    assert sol.status == SolveStatus.HEURISTIC
    assert sol.bound is None


def test_root_order_leaves_a_root_in_every_part_of_every_legal_plan():
    # root_order puts last a set of nodes whose connected pieces weigh less than the lower
    # bound: every part of every legal plan must keep a node among the possible roots (else the
    # ordered-roots model would cut the plan off). It must also fix something.
    import random

    from gridgeo.partition._cpsat import root_order

    fixed = 0
    for seed in range(6):
        g = _proof_instance(seed)
        nodes = sorted(g.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        weights = [g.nodes[n]["households"] for n in nodes]
        edges = sorted((min(index[u], index[v]), max(index[u], index[v]), 1.0) for u, v in g.edges)
        lower, upper = 150, 330
        rnd = random.Random(seed)
        guide = [rnd.randint(0, 2) for _ in nodes]
        order, roots = root_order(weights, edges, guide, lower)
        assert sorted(order) == list(range(len(nodes)))
        front = {nodes[v] for v in order[:roots]}
        fixed += len(nodes) - roots
        for blocks in _set_partitions(nodes):
            if all(lower <= sum(g.nodes[n]["households"] for n in b) <= upper and nx.is_connected(g.subgraph(b)) for b in blocks):
                assert all(front & set(b) for b in blocks)
    assert fixed > 0


def test_proof_step_same_seed_same_plan(monkeypatch):
    from gridgeo.partition import core

    monkeypatch.setattr(core, "PROOF_MIN_BUDGET", 0.3)
    g = lattice_graph(8, seed=4)
    a = solve_graph(g, "households", 300, 500, seed=2, time_limit=0.3)
    b = solve_graph(g, "households", 300, 500, seed=2, time_limit=0.3)
    assert a.assignment == b.assignment
    assert (a.status, a.objective, a.bound) == (b.status, b.objective, b.bound)
    assert check_plan(g, a.assignment, "households", 300, 500) == []
