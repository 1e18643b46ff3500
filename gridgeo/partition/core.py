"""The combinatorial core: split a graph into connected parts whose weights lie in a band.

:func:`partition_graph` is the public entry; :func:`solve_graph` returns the same plan with
its solver report. Strategy, per connected component:

1. the number of parts ``k`` may range over ``[ceil(W / upper), floor(W / lower)]``;
2. a warm start from the recursive spanning-tree bipartition (:mod:`.heuristic`), trying the
   smallest ``k`` first (fewer grids, fewer boundaries);
3. small components are solved exactly by CP-SAT (every ``k`` in the range, warm-started);
4. large ones keep the tree plan and improve it by large-neighbourhood search: the union of
   two adjacent parts is re-split optimally by CP-SAT, pair after pair, while it pays.

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
from gridgeo.partition._cpsat import SolveStatus, solve_partition
from gridgeo.partition.heuristic import _order_key, bisection_plan

#: Components whose exact model has more node-part pairs than this keep the improved heuristic plan.
EXACT_LIMIT = 600
#: CP-SAT deterministic time of one pair re-split, and pairs re-split per unit of budget.
PAIR_DET_TIME = 0.02
PAIRS_PER_BUDGET = 25
#: A pair re-split frees the units within this many steps of the pair's common boundary; the
#: rest of each part is merged into fixed nodes (measured on 205 generated communities: a 0.7 %
#: lower total cut than freeing the whole pair, at the same time).
PAIR_WINDOW = 3
#: Pair re-splits branch on the hint first (measured: 3.6 % lower total cut at the same time).
PAIR_HINT_SEARCH = True
#: Below this budget the exact model is not run after a heuristic plan: measured on 205 generated
#: communities at 0.02 it changed the total cut by 0.03 % for a fifth of the time.
EXACT_MIN_BUDGET = 0.1


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
    """

    assignment: dict
    n_parts: int
    status: SolveStatus
    objective: float
    bound: float | None
    wall_s: float
    notes: list[str] = field(default_factory=list)

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
        Deterministic time budget of CP-SAT per component (about seconds); default 0.5. Up to
        half of it goes to re-splitting pairs of adjacent parts (0.02 each, the pairs with the
        longest common boundary first), the whole of it to the exact model when the component is
        small enough; below 0.1 the exact model is skipped and the status is ``heuristic``
        unless the heuristic found no plan.
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
    for comp, (lo, hi), k in zip(comps, ranges, wanted, strict=True):
        sub = graph.subgraph(comp)
        plan, status, obj, bnd, note = _solve_component(
            sub, w, lower, upper, (k, k) if k is not None else (lo, hi), edge_cost, budget, seed
        )
        notes.extend(note)
        for n in comp:
            assignment[n] = plan[n] + offset
        offset += max(plan.values()) + 1
        statuses.append(status)
        objective += obj
        bound = None if bnd is None or bound is None else bound + bnd
    order = [SolveStatus.TRIVIAL, SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.HEURISTIC]
    status = max(statuses, key=order.index)
    if status == SolveStatus.TRIVIAL:
        status = SolveStatus.OPTIMAL
    if status == SolveStatus.HEURISTIC:
        bound = None
    return GraphSolution(
        assignment, offset, status, round(objective, 3), bound, time.perf_counter() - start, notes
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


def _solve_component(sub, w, lower, upper, krange, edge_cost, budget, seed):
    """Plan one connected component. Returns (plan, status, objective, bound, notes)."""
    nodes = sorted(sub.nodes, key=_order_key)
    index = {n: i for i, n in enumerate(nodes)}
    weights = [w[n] for n in nodes]
    edges = sorted(
        (
            (min(index[u], index[v]), max(index[u], index[v]), float(d.get(edge_cost, 1.0)))
            for u, v, d in sub.edges(data=True)
        )
    )
    cost = {frozenset((nodes[i], nodes[j])): c for i, j, c in edges}
    k_lo, k_hi = krange
    notes = []
    if k_hi == 1:
        return {n: 0 for n in nodes}, SolveStatus.TRIVIAL, 0.0, 0.0, notes
    # Warm start: recursive tree bisection (its own choice of k, or the k asked for).
    hint = _warm_start(sub, w, lower, upper, k_lo, k_hi, cost, seed)
    if hint is not None:
        hint = _improve(sub, w, lower, upper, hint, cost, budget, seed)
    exact_size = len(nodes) * min(k_hi, len(nodes))
    worth_it = budget >= EXACT_MIN_BUDGET and exact_size <= EXACT_LIMIT
    if worth_it or (hint is None and exact_size <= 20 * EXACT_LIMIT):
        res = solve_partition(
            weights, edges, lower, upper, k_lo, k_hi,
            hint=[hint[n] for n in nodes] if hint else None,
            deterministic_time=budget, seed=seed,
        )  # fmt: skip
        if res.assignment is not None:
            plan = {n: res.assignment[index[n]] for n in nodes}
            return plan, res.status, res.objective, res.bound, notes
        if hint is None:
            if res.status == SolveStatus.INFEASIBLE:
                raise InfeasibleError(
                    f"no connected plan with parts in [{lower}, {upper}] exists for the component "
                    f"starting at {nodes[0]!r} ({sum(weights)} in {len(nodes)} nodes): the weights "
                    "cannot be grouped into connected parts in the band"
                )
            raise InfeasibleError(
                f"no plan found in the time limit for the component starting at {nodes[0]!r}; raise time_limit"
            )
    if hint is None:
        raise InfeasibleError(
            f"no plan found for the component starting at {nodes[0]!r} ({sum(weights)} in "
            f"{len(nodes)} nodes, {k_lo}-{k_hi} parts): the spanning-tree search found no cut and "
            "the component is too large to prove it infeasible; widen the band or split the area"
        )
    return hint, SolveStatus.HEURISTIC, _cut_cost(sub, hint, cost), None, notes


def _warm_start(sub, w, lower, upper, k_lo, k_hi, cost, seed):
    """A feasible plan from tree bisection: free count first, then each count, other seeds."""
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
                return plan
    return None


def _cut_cost(graph, plan, cost) -> float:
    return round(
        sum(cost.get(frozenset((u, v)), 1.0) for u, v in graph.edges if plan[u] != plan[v]), 3
    )


def _improve(graph, w, lower, upper, plan, cost, budget, seed):
    """Improve a feasible plan: unit moves, then CP-SAT re-splits of adjacent part pairs.

    The effort is bounded by counts (moves, pairs) and CP-SAT's deterministic time, never by
    the wall clock, so the result does not depend on the machine.
    """
    plan = _refine(graph, w, lower, upper, plan, cost)
    links: dict[tuple[int, int], float] = {}
    for u, v in graph.edges:
        a, b = plan[u], plan[v]
        if a != b:
            key = (min(a, b), max(a, b))
            links[key] = links.get(key, 0.0) + cost.get(frozenset((u, v)), 1.0)
    # The pairs with the longest common boundary have the most to gain.
    pairs = sorted(links, key=lambda k: (-links[k], k))[: max(1, int(budget * PAIRS_PER_BUDGET))]
    changed = False
    for a, b in pairs:
        region = [n for n in graph if plan[n] in (a, b)]
        if len(region) > 160:
            continue
        weights, edges, members, hint, fixed = _pair_window(
            graph, w, plan, region, cost, PAIR_WINDOW
        )
        before = sum(c for i, j, c in edges if hint[i] != hint[j])
        res = solve_partition(weights, edges, lower, upper, 2, 2, hint=hint, fixed=fixed,
                              deterministic_time=PAIR_DET_TIME, seed=seed, hint_search=PAIR_HINT_SEARCH)  # fmt: skip
        if res.assignment is None or res.objective is None or res.objective >= before - 1e-6:
            continue
        first = plan[members[0][0]]
        side = (first, b if first == a else a)
        for i, group in enumerate(members):
            for n in group:
                plan[n] = side[res.assignment[i]]
        changed = True
    if changed:
        plan = _refine(graph, w, lower, upper, plan, cost)
    return _renumber(graph, plan)


def _pair_window(graph, w, plan, region, cost, hops):
    """The re-split model of two adjacent parts: units near their common boundary stay free,
    each connected group of the others is merged into one fixed node of its part.

    Returns (weights, edges, members, hint, fixed): ``members[i]`` lists the units of model node
    ``i``; ``hint[i]`` is 0 on the side of the region's lowest unit, 1 on the other; ``fixed``
    pins the merged nodes to their side. Each merged group is connected, so a side is connected
    in the model exactly when its units are.
    """
    region = sorted(region, key=_order_key)
    inside = set(region)
    first = plan[region[0]]
    side = {n: int(plan[n] != first) for n in region}
    dist: dict = {}
    frontier = [n for n in region if any(m in inside and side[m] != side[n] for m in graph.adj[n])]
    for n in frontier:
        dist[n] = 0
    for d in range(1, hops + 1):
        nxt = []
        for n in frontier:
            for m in graph.adj[n]:
                if m in inside and m not in dist:
                    dist[m] = d
                    nxt.append(m)
        frontier = nxt
    group: dict = {}
    members: list[list] = []
    for n in region:
        if n in group:
            continue
        group[n] = len(members)
        if n in dist:
            members.append([n])
            continue
        comp = [n]
        for u in comp:  # the fixed units of this side reachable from n without crossing free ones
            for m in graph.adj[u]:
                if m in inside and m not in group and m not in dist and side[m] == side[n]:
                    group[m] = group[n]
                    comp.append(m)
        members.append(sorted(comp, key=_order_key))
    links: dict[tuple[int, int], float] = {}
    for u, v in graph.edges(region):
        if v in inside:
            i, j = group[u], group[v]
            if i != j:
                key = (min(i, j), max(i, j))
                links[key] = links.get(key, 0.0) + cost.get(frozenset((u, v)), 1.0)
    edges = [(i, j, c) for (i, j), c in sorted(links.items())]
    weights = [sum(w[n] for n in m) for m in members]
    hint = [side[m[0]] for m in members]
    fixed = {i: hint[i] for i, m in enumerate(members) if m[0] not in dist}
    return weights, edges, members, hint, fixed


def _renumber(graph, plan: dict) -> dict:
    """Parts renumbered by their lowest node."""
    seen: dict[int, int] = {}
    for n in sorted(graph.nodes, key=_order_key):
        seen.setdefault(plan[n], len(seen))
    return {n: seen[p] for n, p in plan.items()}


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
