"""The combinatorial core: split a graph into connected parts whose weights lie in a band.

:func:`partition_graph` is the public entry; :func:`solve_graph` returns the same plan with
its solver report. Strategy, per connected component:

1. the number of parts ``k`` may range over ``[ceil(W / upper), floor(W / lower)]``;
2. a warm start from random spanning trees (:mod:`.heuristic`): recursive bisection, and at a
   fixed ``k`` near the fewest parts, one part at a time;
3. small components are solved exactly by CP-SAT on half the budget (every ``k`` in the range,
   warm-started); unless that proves the plan optimal,
4. the anytime search (:mod:`._lns`) spends the rest of the budget: windows around the common
   boundaries of two or three adjacent parts re-solved by CP-SAT, ReCom kicks out of local
   optima, the best plan kept.
5. from a budget of :data:`PROOF_MIN_BUDGET` on, a component of at most :data:`PROOF_LIMIT`
   node-part pairs gets instead the search on half the budget and, on the other half, the exact model
   with ordered roots and a stronger LP, warm-started from the search's plan: it proves the plan
   optimal (or bounds it) where the plain exact model proves nothing.

Time is bounded by deterministic limits, never the wall clock, so that the same inputs and
seed give the same plan on any machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

import networkx as nx

from gridgeo.errors import InfeasibleError
from gridgeo.partition._cpsat import SolveResult, SolveStatus, root_order, solve_partition
from gridgeo.partition._lns import search
from gridgeo.partition.heuristic import _order_key, bisection_plan, sequential_plan

#: Components whose exact model has more node-part pairs than this are left to the anytime search.
EXACT_LIMIT = 600
#: Share of the budget the exact model gets on a small component; when it does not prove its
#: plan optimal, the anytime search spends the rest.
EXACT_SHARE = 0.5
#: Below this budget the exact model is not run after a heuristic plan: measured on 205 generated
#: communities at 0.02 it changed the total cut by 0.03 % for a fifth of the time.
EXACT_MIN_BUDGET = 0.1
#: Below EXACT_MIN_BUDGET, one move of the search per this much budget (0.02, the city's
#: setting: one move, about one CP-SAT call per community; each call has a fixed cost its
#: deterministic clock does not count, and two moves made the city run 771 s instead of 551 s
#: for a total cut 1.5-2.2 % lower; benchmarks/bench_speed_setting.py).
SPEED_MOVE_BUDGET = 0.02
#: Below EXACT_MIN_BUDGET, tree warm starts tried (each refined, the lowest cut kept). Measured at
#: 0.02 (bench_speed_setting.py), against 1 seed: 2 and 3 seeds cut the total by 7 / 14 % on the sample and 6 / 9 %
#: on 205 generated communities (with 1-2 % fewer grids), for about a third more process CPU with
#: 3 on a shared machine; left at 1 until the city run is timed with it.
SPEED_TREE_SEEDS = 1
#: From this budget on, a component with at most PROOF_LIMIT node-part pairs gets a proof step:
#: the anytime search on the budget less PROOF_SHARE, then the exact model on the rest, warm-started
#: from the search's plan, with ordered roots (few possible roots, :func:`._cpsat.root_order`) and
#: CP-SAT's LP at linearization level 2 (the level that puts the cut clauses in the LP). Measured on
#: the tract graphs (benchmarks/RESULTS.md, "the proof step"): it proves New Hampshire, Idaho and
#: Maine (k = 2, 590-716 pairs) optimal in 1.7-8.7 det s, where level 1 left the bound at 0; on
#: the k = 3 graphs (1,452-1,596 pairs) the bound stays at 5 after 60 det s, so they stay out.
PROOF_MIN_BUDGET = 5.0
PROOF_LIMIT = 1200
PROOF_SHARE = 0.5
#: The search after an unproved exact model runs only when at least this much budget is left.
MOVE_BUDGET_LEFT = 0.05
#: Seeds of the one-part-at-a-time warm start, tried at a fixed count when bisection failed.
SEQUENTIAL_SEEDS = 12


@dataclass
class GraphSolution:
    """A plan and how it was found.

    Attributes
    ----------
    assignment : dict
        Node -> part index (0-based, parts numbered by component then by lowest node).
    n_parts : int
    status : SolveStatus
        The weakest status over the components (optimal only when every one is).
    objective : float
        Total cost of cut edges.
    bound : float or None
        Proven lower bound of that cost (None when a component was not solved exactly).
    wall_s : float
    notes : list of str
        What was done and why, in a planner's words.
    det_time : float
        Deterministic time spent (CP-SAT's, plus the search's fixed charges): at most about the
        budget per component, the same on any machine.
    """

    assignment: dict
    n_parts: int
    status: SolveStatus
    objective: float
    bound: float | None
    wall_s: float
    notes: list[str] = field(default_factory=list)
    det_time: float = 0.0

    @property
    def gap(self) -> float | None:
        """Relative optimality gap, None when unknown."""
        if self.bound is None:
            return None
        if self.objective <= 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / self.objective)


def k_range(total: int, lower: int, upper: int) -> tuple[int, int]:
    """The range of part counts the band allows for a total weight (empty when lo > hi)."""
    if total == 0:
        return (0, 0)
    return (math.ceil(total / upper), total // lower if lower > 0 else total)


def partition_graph(
    graph: nx.Graph,
    weight: str,
    lower: int,
    upper: int,
    *,
    n_parts: int | None = None,
    edge_cost: str | None = None,
    time_limit: float | None = None,
    seed: int = 0,
) -> dict:
    """Split a graph into connected parts whose total node weight lies in ``[lower, upper]``.

    Parameters
    ----------
    graph : networkx.Graph
        Nodes carry the ``weight`` attribute (integers >= 0); edges optionally ``edge_cost``
        (1 when absent). Not modified.
    weight : str
        Node attribute holding the weight (e.g. ``"households"``).
    lower, upper : int
        The band of a part's weight.
    n_parts : int, optional
        Use exactly this many parts; by default the number is chosen within what the band
        allows, minimising the cut cost.
    edge_cost : str, optional
        Edge attribute holding the cost of cutting the edge; default ``"edge_cost"``.
    time_limit : float, optional
        Deterministic time budget per component (about seconds); default 0.5. It is spent in
        full unless a plan is proved optimal: on a small component half goes to the exact model,
        the rest (or all of it on a large component) to the anytime search; from 5 on, a
        component of at most 1,200 node-part pairs gets half for the search and half for a
        proof of optimality (the exact model, warm-started from the search's plan). Below 0.1 (the
        speed setting) the exact model is skipped, the search makes one move per 0.02 of budget
        and the status is ``heuristic`` unless the heuristic found no plan.
    seed : int
        Seed of the heuristic and of CP-SAT.

    Returns
    -------
    dict
        Node -> part index. Every part is connected, and its weight lies in the band.

    Raises
    ------
    InfeasibleError
        When no plan exists (a node heavier than ``upper``, a component whose weight no
        number of parts can split, ``n_parts`` out of reach) or none was found in time.
    """
    return solve_graph(
        graph,
        weight,
        lower,
        upper,
        n_parts=n_parts,
        edge_cost=edge_cost,
        time_limit=time_limit,
        seed=seed,
    ).assignment


def solve_graph(
    graph: nx.Graph,
    weight: str,
    lower: int,
    upper: int,
    *,
    n_parts: int | None = None,
    edge_cost: str | None = None,
    time_limit: float | None = None,
    seed: int = 0,
) -> GraphSolution:
    """As :func:`partition_graph`, returning the plan with its solver report."""
    start = time.perf_counter()
    if lower < 0 or upper < lower or upper <= 0:
        raise InfeasibleError(f"the band [{lower}, {upper}] is empty or negative")
    if graph.number_of_nodes() == 0:
        raise InfeasibleError("the graph has no node to partition")
    edge_cost = edge_cost or "edge_cost"
    budget = 0.5 if time_limit is None else float(time_limit)
    w = {}
    for n, data in graph.nodes(data=True):
        v = data.get(weight)
        if v is None or int(v) != v or v < 0:
            raise InfeasibleError(f"node {n!r}: {weight} is {v!r}, not a whole number >= 0")
        w[n] = int(v)
    heavy = [n for n in w if w[n] > upper]
    if heavy:
        n = sorted(heavy, key=_order_key)[0]
        raise InfeasibleError(
            f"node {n!r} alone weighs {w[n]} > upper bound {upper}: no part can hold it "
            f"({len(heavy)} such node(s)); give it a part of its own or split it"
        )
    comps = sorted(
        (sorted(c, key=_order_key) for c in nx.connected_components(graph)),
        key=lambda c: _order_key(c[0]),
    )
    totals = [sum(w[n] for n in c) for c in comps]
    ranges = [k_range(t, lower, upper) for t in totals]
    for c, t, (lo, hi) in zip(comps, totals, ranges, strict=True):
        if lo > hi or t == 0:
            what = "weighs 0" if t == 0 else f"weighs {t}: {_why_no_k(t, lower, upper)}"
            raise InfeasibleError(
                f"connected component of {len(c)} node(s) starting at {c[0]!r} {what}; "
                "parts must be connected, so it cannot be split into parts in the band"
            )
    wanted = _distribute(n_parts, ranges) if n_parts is not None else [None] * len(comps)
    assignment: dict = {}
    offset = 0
    statuses = []
    objective = 0.0
    bound: float | None = 0.0
    notes: list[str] = []
    det_used = 0.0
    for comp, (lo, hi), k in zip(comps, ranges, wanted, strict=True):
        sub = graph.subgraph(comp)
        out = _solve_component(
            sub, w, lower, upper, (k, k) if k is not None else (lo, hi), edge_cost, budget, seed
        )
        notes.extend(out.notes)
        for n in comp:
            assignment[n] = out.plan[n] + offset
        offset += max(out.plan.values()) + 1
        statuses.append(out.status)
        objective += out.objective
        det_used += out.det_used
        bound = None if out.bound is None or bound is None else bound + out.bound
    order = [SolveStatus.TRIVIAL, SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.HEURISTIC]
    status = max(statuses, key=order.index)
    if status == SolveStatus.TRIVIAL:
        status = SolveStatus.OPTIMAL
    if status == SolveStatus.HEURISTIC:
        bound = None
    return GraphSolution(
        assignment, offset, status, round(objective, 3), bound, time.perf_counter() - start, notes,
        round(det_used, 4),
    )


def _why_no_k(total: int, lower: int, upper: int) -> str:
    k = max(1, round(total / ((lower + upper) / 2)))
    return (
        f"{k} part(s) would average {total / k:.0f}, {k + 1} would average {total / (k + 1):.0f}; "
        f"no whole number of parts puts every part in [{lower}, {upper}]"
    )


def _distribute(n_parts: int, ranges: list[tuple[int, int]]) -> list[int]:
    lo = sum(r[0] for r in ranges)
    hi = sum(r[1] for r in ranges)
    if not lo <= n_parts <= hi:
        raise InfeasibleError(
            f"{n_parts} parts are out of reach: the band allows {lo} to {hi} here"
        )
    out = [r[0] for r in ranges]
    extra = n_parts - lo
    for i, (a, b) in enumerate(ranges):
        add = min(extra, b - a)
        out[i] += add
        extra -= add
    return out


@dataclass
class _Component:
    """One connected component, indexed for the CP-SAT model."""

    sub: nx.Graph
    nodes: list
    index: dict
    weights: list[int]
    edges: list[tuple[int, int, float]]
    cost: dict


@dataclass
class _Outcome:
    """The plan of one component and how it was found."""

    plan: dict
    status: SolveStatus
    objective: float
    bound: float | None
    det_used: float = 0.0
    notes: list[str] = field(default_factory=list)


def _index(sub: nx.Graph, w: dict, edge_cost: str) -> _Component:
    nodes = sorted(sub.nodes, key=_order_key)
    index = {n: i for i, n in enumerate(nodes)}
    edges = sorted(
        (
            (min(index[u], index[v]), max(index[u], index[v]), float(d.get(edge_cost, 1.0)))
            for u, v, d in sub.edges(data=True)
        )
    )
    cost = {frozenset((nodes[i], nodes[j])): c for i, j, c in edges}
    return _Component(sub, nodes, index, [w[n] for n in nodes], edges, cost)


def _solve_component(sub, w, lower, upper, krange, edge_cost, budget, seed) -> _Outcome:
    """Plan one connected component: warm start, then the exact model and/or the anytime search."""
    comp = _index(sub, w, edge_cost)
    k_lo, k_hi = krange
    if k_hi == 1:
        return _Outcome({n: 0 for n in comp.nodes}, SolveStatus.TRIVIAL, 0.0, 0.0)
    hint, tried = _warm_start(sub, w, lower, upper, k_lo, k_hi, comp.cost, seed)
    if hint is not None:
        hint = _refine(sub, w, lower, upper, hint, comp.cost)
        if budget < EXACT_MIN_BUDGET:
            for extra in range(1, SPEED_TREE_SEEDS):
                other, _ = _warm_start(sub, w, lower, upper, k_lo, k_hi, comp.cost, seed + 7 * extra)
                if other is not None:
                    other = _refine(sub, w, lower, upper, other, comp.cost)
                    if _cut_cost(sub, other, comp.cost) < _cut_cost(sub, hint, comp.cost) - 1e-9:
                        hint = other
    exact_size = len(comp.nodes) * min(k_hi, len(comp.nodes))
    if hint is not None and budget >= PROOF_MIN_BUDGET and exact_size <= PROOF_LIMIT:
        return _search_then_prove(comp, w, lower, upper, krange, hint, budget, seed)
    if budget >= EXACT_MIN_BUDGET and exact_size <= EXACT_LIMIT:
        return _exact_then_search(comp, w, lower, upper, krange, hint, budget, seed)
    if hint is None:
        return _no_hint(comp, lower, upper, krange, exact_size, budget, seed, tried)
    # Below EXACT_MIN_BUDGET (a city-wide run's speed setting) the search makes a few moves only.
    moves = None if budget >= EXACT_MIN_BUDGET else max(1, round(budget / SPEED_MOVE_BUDGET))
    rep = search(sub, w, lower, upper, hint, comp.cost, budget=budget, seed=seed, max_moves=moves)
    return _Outcome(rep.plan, SolveStatus.HEURISTIC, round(rep.objective, 3), None, rep.det_used)


def _exact_then_search(comp, w, lower, upper, krange, hint, budget, seed) -> _Outcome:
    """A small component: moves, the exact model, then the anytime search.

    One cheap round of moves, the exact model on a share of the budget and, unless that proved
    the plan optimal, the anytime search on the rest.
    """
    used = 0.0
    if hint is not None:
        rep = search(comp.sub, w, lower, upper, hint, comp.cost, budget=budget * (1 - EXACT_SHARE) / 2,
                     seed=seed, max_rounds=1)  # fmt: skip
        hint, used = rep.plan, rep.det_used
    share = budget if hint is None else min(budget * EXACT_SHARE, budget - used)
    res = solve_partition(
        comp.weights, comp.edges, lower, upper, krange[0], krange[1],
        hint=[hint[n] for n in comp.nodes] if hint else None,
        deterministic_time=share, seed=seed,
    )  # fmt: skip
    used += res.det_time
    if res.assignment is None and hint is None:
        _raise_unsolved(comp, lower, upper, res.status, krange)
    plan = hint
    if res.assignment is not None:
        plan = {n: res.assignment[comp.index[n]] for n in comp.nodes}
        if res.status == SolveStatus.OPTIMAL:
            return _Outcome(plan, res.status, res.objective, res.bound, used)
    rep = search(comp.sub, w, lower, upper, plan, comp.cost, budget=max(0.0, budget - used), seed=seed)
    bound = res.bound if res.bound is not None else None
    status = SolveStatus.FEASIBLE if bound is not None else SolveStatus.HEURISTIC
    return _Outcome(rep.plan, status, round(rep.objective, 3), bound, used + rep.det_used)


def _search_then_prove(comp, w, lower, upper, krange, hint, budget, seed) -> _Outcome:
    """A large budget on a component of at most PROOF_LIMIT pairs: the search, then a proof.

    The anytime search spends the budget less :data:`PROOF_SHARE`; the exact model (ordered
    roots in :func:`._cpsat.root_order`'s order, LP at level 2) gets the rest, warm-started from
    the search's plan. Proved: the plan is optimal and the budget left is not spent. Not
    proved: its bound is reported, with its plan when it found a lower cut, and the search
    spends what the exact model left.
    """
    rep = search(comp.sub, w, lower, upper, hint, comp.cost, budget=budget * (1 - PROOF_SHARE), seed=seed)
    plan, used = rep.plan, rep.det_used
    res = _prove(comp, lower, upper, krange, [plan[n] for n in comp.nodes], budget - used, seed)
    used += res.det_time
    if res.assignment is not None:
        found = {n: res.assignment[comp.index[n]] for n in comp.nodes}
        if res.status == SolveStatus.OPTIMAL:
            return _Outcome(found, res.status, round(_cut_cost(comp.sub, found, comp.cost), 3), res.bound, used)
        if _cut_cost(comp.sub, found, comp.cost) < _cut_cost(comp.sub, plan, comp.cost) - 1e-9:
            plan = found
    if budget - used > MOVE_BUDGET_LEFT:
        more = search(comp.sub, w, lower, upper, plan, comp.cost, budget=budget - used, seed=seed)
        plan, used = more.plan, used + more.det_used
    status = SolveStatus.FEASIBLE if res.bound is not None else SolveStatus.HEURISTIC
    return _Outcome(plan, status, round(_cut_cost(comp.sub, plan, comp.cost), 3), res.bound, used)


def _prove(comp, lower, upper, krange, plan: list[int], det: float, seed: int) -> SolveResult:
    """The exact model on a component renumbered by :func:`._cpsat.root_order`, answered in its own numbering."""
    order, _roots = root_order(comp.weights, comp.edges, plan, lower)
    pos = {v: p for p, v in enumerate(order)}
    edges = sorted((min(pos[i], pos[j]), max(pos[i], pos[j]), c) for i, j, c in comp.edges)
    res = solve_partition(
        [comp.weights[v] for v in order], edges, lower, upper, krange[0], krange[1],
        hint=[plan[v] for v in order], deterministic_time=max(0.0, det), seed=seed,
        ordered_roots=True, linearization=2,
    )  # fmt: skip
    if res.assignment is not None:
        back = [0] * len(order)
        for p, v in enumerate(order):
            back[v] = res.assignment[p]
        res.assignment = back
    return res


def _no_hint(comp, lower, upper, krange, exact_size, budget, seed, tried) -> _Outcome:
    """No warm start: the exact model decides when it is small enough, else no plan was found."""
    if exact_size <= 20 * EXACT_LIMIT:
        res = solve_partition(
            comp.weights, comp.edges, lower, upper, krange[0], krange[1],
            deterministic_time=budget, seed=seed,
        )  # fmt: skip
        if res.assignment is None:
            _raise_unsolved(comp, lower, upper, res.status, krange, tried)
        plan = {n: res.assignment[comp.index[n]] for n in comp.nodes}
        return _Outcome(plan, res.status, res.objective, res.bound, res.det_time)
    raise InfeasibleError(
        f"no plan found within the budget for the component starting at {comp.nodes[0]!r} "
        f"({sum(comp.weights)} in {len(comp.nodes)} nodes, {_parts(krange)}); tried {tried}; the "
        "component is too large to prove that no plan exists: raise time_limit, widen the band "
        "or split the area"
    )


def _parts(krange) -> str:
    return f"{krange[0]} parts" if krange[0] == krange[1] else f"{krange[0]}-{krange[1]} parts"


def _raise_unsolved(comp, lower, upper, status, krange, tried: str = "") -> None:
    where = f"the component starting at {comp.nodes[0]!r} ({sum(comp.weights)} in {len(comp.nodes)} nodes, {_parts(krange)})"
    if status == SolveStatus.INFEASIBLE:
        raise InfeasibleError(
            f"no connected plan with parts in [{lower}, {upper}] exists for {where}: the exact "
            "model proved that the weights cannot be grouped into connected parts in the band"
        )
    also = f"; tried {tried}" if tried else ""
    raise InfeasibleError(
        f"no plan found within the budget for {where}{also}; raise time_limit"
    )


def _warm_start(sub, w, lower, upper, k_lo, k_hi, cost, seed) -> tuple[dict | None, str]:
    """A feasible plan from random spanning trees.

    Tree bisection first (its own count, then each count, other seeds); at a fixed count, then
    one part at a time from :data:`SEQUENTIAL_SEEDS` seeds, which finds plans near the fewest
    parts where balanced bisection does not. Returns (plan or None, what was tried in words).
    """
    tries: list[int | None] = [k_lo] if k_lo == k_hi else [None]
    if k_lo != k_hi:
        mid = (k_lo + k_hi) // 2
        tries += sorted(range(k_lo, k_hi + 1), key=lambda k: (abs(k - mid), k))[:4]
    for attempt in range(3):
        for k in tries:
            plan = bisection_plan(
                sub, w, lower, upper, n_parts=k, cost=cost, seed=seed + 7919 * attempt
            )
            if plan is not None:
                return plan, ""
    tried = f"tree bisection with 3 seeds at {len(tries)} part count(s)"
    if k_lo == k_hi:
        for attempt in range(SEQUENTIAL_SEEDS):
            plan = sequential_plan(sub, w, lower, upper, k_lo, cost=cost, seed=seed + 104729 * attempt)
            if plan is not None:
                return plan, ""
        tried += f", then one part at a time with {SEQUENTIAL_SEEDS} seeds"
    return None, tried


def _cut_cost(graph, plan, cost) -> float:
    return round(
        sum(cost.get(frozenset((u, v)), 1.0) for u, v in graph.edges if plan[u] != plan[v]), 3
    )


def _refine(graph, w, lower, upper, plan, cost, max_rounds: int = 25) -> dict:
    """Move single boundary nodes to a neighbouring part while that lowers the cut cost.

    A move must keep both parts in the band and the part it leaves connected.
    """
    plan = dict(plan)
    load: dict[int, int] = {}
    members: dict[int, set] = {}
    for n, p in plan.items():
        load[p] = load.get(p, 0) + w[n]
        members.setdefault(p, set()).add(n)
    nodes = sorted(graph.nodes, key=_order_key)
    for _ in range(max_rounds):
        moved = False
        for n in nodes:
            a = plan[n]
            link: dict[int, float] = {}
            for m in graph.adj[n]:
                link[plan[m]] = link.get(plan[m], 0.0) + cost.get(frozenset((n, m)), 1.0)
            if len(link) == 1 and a in link:
                continue
            stay = link.get(a, 0.0)
            best = None
            for b in sorted(link):
                gain = link[b] - stay
                if b == a or gain <= 1e-9 or load[b] + w[n] > upper or load[a] - w[n] < lower:
                    continue
                if best is None or gain > best[0]:
                    best = (gain, b)
            if best is None or len(members[a]) == 1:
                continue
            rest = members[a] - {n}
            if not _connected(graph.adj, rest):
                continue
            b = best[1]
            plan[n] = b
            members[a].discard(n)
            members[b].add(n)
            load[a] -= w[n]
            load[b] += w[n]
            moved = True
        if not moved:
            break
    return plan


def _connected(adj, nodes: set) -> bool:
    """Whether ``nodes`` (non-empty) induce a connected subgraph (a plain BFS, no subgraph view)."""
    start = next(iter(nodes))
    seen = {start}
    stack = [start]
    while stack:
        for m in adj[stack.pop()]:
            if m in nodes and m not in seen:
                seen.add(m)
                stack.append(m)
    return len(seen) == len(nodes)


def check_plan(graph: nx.Graph, plan: dict, weight: str, lower: int, upper: int) -> list[str]:
    """List what is wrong with a plan (empty when every part is connected and in the band).

    Parameters
    ----------
    graph : networkx.Graph
    plan : dict
        Node -> part.
    weight : str
        Node attribute of the weight.
    lower, upper : int
        The band.

    Returns
    -------
    list of str
    """
    out = []
    missing = [n for n in graph if n not in plan]
    if missing:
        out.append(f"{len(missing)} node(s) without a part, e.g. {missing[0]!r}")
    parts: dict[Hashable, list] = {}
    for n, p in plan.items():
        parts.setdefault(p, []).append(n)
    for p, members in sorted(parts.items(), key=lambda t: str(t[0])):
        total = sum(graph.nodes[n][weight] for n in members)
        if not lower <= total <= upper:
            out.append(f"part {p} weighs {total}, outside [{lower}, {upper}]")
        if not nx.is_connected(graph.subgraph(members)):
            out.append(f"part {p} is not connected")
    return out
