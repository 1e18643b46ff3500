"""Anytime improvement of a feasible plan: large-neighbourhood search with ReCom-style kicks.

One *move* takes two or three adjacent parts, frees a ball of units around a random unit on
their common boundary (or two half-size balls at two such units, so that a part may gain at one
place what it gives at the other: a tight band allows little else), merges each connected group
of the other units of a part into one fixed node, and re-solves that small model optimally with
CP-SAT, warm-started from the current plan, the fixed nodes as the parts' roots. Moves run in
rounds over every neighbourhood (pairs by length of common boundary, then triples); a round
without gain widens the balls (:data:`SIZES`); once the widest gains nothing the plan is a local
optimum and the search *kicks* the best plan: two adjacent parts are merged and re-split along a
random spanning tree (ReCom, DeFord, Duchin and Solomon 2021), the moves descend on that pair,
and the result is kept when it beats the best. The best plan ever seen is returned.

The effort is counted in CP-SAT's deterministic time plus a fixed charge per move and per
kick, never the wall clock: the same plan, seed and budget give the same result on any machine.
Measured on the six tract graphs with proven optima (5 deterministic seconds each): balls of
20-80 units beat whole-boundary windows (201 against 245 cut edges in total, optima 193).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from gridgeo.partition._cpsat import solve_partition
from gridgeo.partition.heuristic import _order_key, bisection_plan

#: CP-SAT deterministic time of one re-solve (a window is small: most are proved in less).
MOVE_DET_TIME = 0.03
#: Deterministic time charged per move and per kick on top of CP-SAT's own (the Python work of
#: building the window; it also bounds the number of moves when CP-SAT proves them instantly).
MOVE_CHARGE = 0.002
KICK_CHARGE = 0.004
#: Free units of a move, level after level: a round without gain moves to the next level.
SIZES = (20, 40, 80)
#: Most moves per neighbourhood and round.
MOVES_PER_PART = 8
#: The sweep at a local optimum: border units within this many edges of a site share it, and
#: each pair of sites of a pair of parts is freed together (two balls of SWEEP_SIZE units).
SWEEP_SPACING = 2
SWEEP_SIZE = 10
#: The sweep runs on the best plan once this many kicks in a row have not beaten it (kicks that
#: keep gaining are worth more than a sweep: at k = 3 a sweep at every local optimum cost WV and
#: NE 5 and 3 cut edges at 5 s).
SWEEP_AFTER_KICKS = 6


@dataclass
class SearchReport:
    """What the search did.

    Attributes
    ----------
    plan : dict
        The best plan found (node -> part), parts renumbered by lowest node.
    objective : float
        Its cut cost.
    start_objective : float
        The cut cost of the plan it started from.
    det_used : float
        Deterministic time spent (CP-SAT's plus the fixed charges).
    moves, improving_moves, kicks : int
        Re-solves run, those that lowered the cost of the current plan, and ReCom kicks.
    """

    plan: dict
    objective: float
    start_objective: float
    det_used: float
    moves: int
    improving_moves: int
    kicks: int


@dataclass
class _Problem:
    graph: nx.Graph
    w: dict
    lower: int
    upper: int
    cost: dict

    def edge_cost(self, u: Hashable, v: Hashable) -> float:
        return self.cost.get(frozenset((u, v)), 1.0)

    def cut(self, plan: dict) -> float:
        return round(sum(self.edge_cost(u, v) for u, v in self.graph.edges if plan[u] != plan[v]), 6)


def search(  # noqa: PLR0913 - the graph, band, plan, cost, budget and seed of the search
    graph: nx.Graph,
    w: dict,
    lower: int,
    upper: int,
    plan: dict,
    cost: dict,
    *,
    budget: float,
    seed: int,
    max_rounds: int | None = None,
    max_moves: int | None = None,
) -> SearchReport:
    """Improve a feasible plan until the deterministic ``budget`` is spent.

    Parameters
    ----------
    graph : networkx.Graph
        Connected; not modified.
    w : dict
        Node -> weight.
    lower, upper : int
        The band.
    plan : dict
        A feasible plan (every part connected, in the band); not modified.
    cost : dict
        Frozenset({u, v}) -> cost of cutting the edge (1 when absent).
    budget : float
        Deterministic time to spend.
    seed : int
        Seed of the kicks and of CP-SAT.
    max_rounds : int, optional
        Stop after this many rounds of moves without a kick (the cheap setting used before
        an exact solve); by default the search runs until the budget is spent.
    max_moves : int, optional
        Stop after this many moves (the speed setting of a city-wide run).

    Returns
    -------
    SearchReport
    """
    prob = _Problem(graph, w, lower, upper, cost)
    rng = np.random.default_rng(seed)
    best = dict(plan)
    best_obj = prob.cut(best)
    report = SearchReport(best, best_obj, best_obj, 0.0, 0, 0, 0)
    ctx = _Context(prob, budget, seed, rng, report, max_moves)
    current = dict(best)
    _descend(ctx, current, None, max_rounds)
    best, best_obj = current, prob.cut(current)
    stalled, swept = 0, False
    while max_rounds is None and not ctx.spent():
        if stalled >= SWEEP_AFTER_KICKS and not swept:
            swept = True
            current = dict(best)
            if _sweep(ctx, current):
                _descend(ctx, current, None, None)
                best, best_obj, stalled, swept = current, prob.cut(current), 0, False
            continue
        # A local optimum: kick the best plan (ReCom on one pair), descend on that pair alone,
        # keep it when it is better (then descend everywhere, since the pair's neighbours may
        # gain too), else go back to the best.
        kicked = _kick(prob, best, rng, report)
        if kicked is None:
            break
        current, pair = kicked
        _descend(ctx, current, pair, None)
        obj = prob.cut(current)
        if obj < best_obj - 1e-9:
            _descend(ctx, current, None, None)
            best, best_obj, stalled, swept = current, prob.cut(current), 0, False
        else:
            stalled += 1
    report.plan = _renumber(graph, best)
    report.objective = best_obj
    return report


@dataclass
class _Context:
    prob: _Problem
    budget: float
    seed: int
    rng: np.random.Generator
    report: SearchReport
    max_moves: int | None = None

    def spent(self) -> bool:
        if self.max_moves is not None and self.report.moves >= self.max_moves:
            return True
        return self.report.det_used >= self.budget - 1e-9


def _descend(ctx: _Context, plan: dict, only: tuple | None, max_rounds: int | None) -> None:
    """Rounds of moves, in place, widening the window after a round without gain.

    The rounds end when the widest window gains nothing (a local optimum), the budget is spent or
    ``max_rounds`` are done.
    """
    # A few moves only (the speed setting): the widest window, where one move gains most.
    level = 0 if ctx.max_moves is None else len(SIZES) - 1
    rounds = 0
    while not ctx.spent() and (max_rounds is None or rounds < max_rounds):
        gained = _round(ctx, plan, SIZES[level], only)
        rounds += 1
        if gained:
            level = 0
        elif level + 1 < len(SIZES):
            level += 1
        else:
            return


def _neighbourhoods(prob: _Problem, plan: dict, rng: np.random.Generator) -> list[tuple]:
    """Pairs of adjacent parts (longest common boundary first), then triples, lightly shuffled."""
    links: dict[tuple[int, int], float] = {}
    for u, v in prob.graph.edges:
        a, b = plan[u], plan[v]
        if a != b:
            key = (min(a, b), max(a, b))
            links[key] = links.get(key, 0.0) + prob.edge_cost(u, v)
    pairs = sorted(links, key=lambda k: (-links[k], k))
    adj: dict[int, set] = {}
    for a, b in pairs:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    triples = set()
    for a in sorted(adj):
        nb = sorted(adj[a])
        for i, b in enumerate(nb):
            for c in nb[i + 1 :]:
                triples.add(tuple(sorted((a, b, c))))
    triples_l = sorted(triples)
    order = rng.permutation(len(triples_l)) if triples_l else []
    return [*pairs, *(triples_l[i] for i in order)]


def _round(ctx: _Context, plan: dict, size: int, only: tuple | None) -> bool:
    """Moves over every neighbourhood, each applied in place when it lowers the cut.

    A move frees a ball of about ``size`` units around a random unit on the common boundary of
    the neighbourhood's parts (breadth first, inside their union). Returns whether any gained.
    """
    prob, rng, report = ctx.prob, ctx.rng, ctx.report
    gained = False
    hoods = [only] if only is not None else _neighbourhoods(prob, plan, rng)
    for parts in hoods:
        region = [n for n in prob.graph if plan[n] in parts]
        if len({plan[n] for n in region}) != len(parts):
            continue  # a part of this neighbourhood vanished in an earlier move of the round
        inside = set(region)
        border = [n for n in region if any(m in inside and plan[m] != plan[n] for m in prob.graph.adj[n])]
        if not border:
            continue
        n_moves = min(MOVES_PER_PART, max(1, (4 * len(border)) // size))
        for _ in range(n_moves):
            if ctx.spent():
                return gained
            # One ball reshapes the boundary locally; two balls far apart let a part gain at
            # one place what it gives at the other (a tight band allows little else).
            centre = border[int(rng.integers(len(border)))]
            if report.moves % 2:
                free = _ball(prob.graph, centre, inside, size)
            else:
                other = border[int(rng.integers(len(border)))]
                free = _ball(prob.graph, centre, inside, size // 2)
                free |= _ball(prob.graph, other, inside, size // 2)
            gain = _move(ctx, plan, parts, region, free)
            gained = gained or gain
            if gain:
                break  # the border moved: draw it again in the next neighbourhood visit
    return gained


def _sweep(ctx: _Context, plan: dict) -> bool:
    """Every pair of places on the common border of each pair of parts, freed together.

    Random balls rarely hit the two places a tight band needs at once (one part gains at one,
    gives back at the other: ME at 5 s stalled one such exchange of 7 units away from the
    optimum). The border is covered by sites (units :data:`SWEEP_SPACING` edges apart at
    least); each pair of sites gets one move with a small ball at each, in order, applied in
    place when it lowers the cut. Returns whether any move gained.
    """
    prob = ctx.prob
    gained = False
    for parts in _neighbourhoods(prob, plan, ctx.rng):
        if len(parts) != 2:
            continue
        region = [n for n in prob.graph if plan[n] in parts]
        if len({plan[n] for n in region}) != 2:
            continue
        inside = set(region)
        sites = _sites(prob.graph, plan, inside)
        for i, a in enumerate(sites):
            for b in sites[i + 1 :]:
                if ctx.spent():
                    return gained
                if plan[a] not in parts or plan[b] not in parts:
                    continue
                free = _ball(prob.graph, a, inside, SWEEP_SIZE) | _ball(prob.graph, b, inside, SWEEP_SIZE)
                gained = _move(ctx, plan, parts, region, free) or gained
    return gained


def _sites(graph, plan: dict, inside: set) -> list:
    """Border units of ``inside`` at least :data:`SWEEP_SPACING` + 1 edges apart covering the border."""
    border = [
        n for n in sorted(inside, key=_order_key) if any(m in inside and plan[m] != plan[n] for m in graph.adj[n])
    ]
    covered: set = set()
    sites = []
    for n in border:
        if n in covered:
            continue
        sites.append(n)
        reach = {n}
        for _ in range(SWEEP_SPACING):
            reach |= {m for u in reach for m in graph.adj[u] if m in inside}
        covered |= reach
    return sites


def _ball(graph, centre, inside: set, size: int) -> set:
    """The first ``size`` units of ``inside`` reached breadth first from ``centre``."""
    seen = {centre}
    queue = [centre]
    for u in queue:
        for m in graph.adj[u]:
            if m in inside and m not in seen:
                seen.add(m)
                queue.append(m)
                if len(seen) >= size:
                    return seen
    return seen


def _move(ctx: _Context, plan: dict, parts: tuple, region: list, free: set) -> bool:
    prob, report = ctx.prob, ctx.report
    remaining = ctx.budget - report.det_used
    win = _window(prob, plan, parts, region, free)
    before = sum(c for i, j, c in win.edges if win.hint[i] != win.hint[j])
    res = solve_partition(
        win.weights, win.edges, prob.lower, prob.upper, len(parts), len(parts),
        hint=win.hint, fixed=win.fixed, roots=win.roots, deterministic_time=max(1e-3, min(MOVE_DET_TIME, remaining)),
        seed=ctx.seed + report.moves, hint_search=True,
    )  # fmt: skip
    report.moves += 1
    report.det_used += res.det_time + MOVE_CHARGE
    if res.assignment is None:
        return False
    after = sum(c for i, j, c in win.edges if res.assignment[i] != res.assignment[j])
    if after >= before - 1e-9:
        return False
    # The model numbers parts by their lowest model node; map them back through the fixed nodes
    # (the model's first nodes are one fixed group per side that has one) or any unused part.
    label = _relabel(win, res.assignment, parts)
    for i, group in enumerate(win.members):
        for n in group:
            plan[n] = label[res.assignment[i]]
    report.improving_moves += 1
    return True


def _relabel(win, assignment: list[int], parts: tuple) -> dict[int, int]:
    label: dict[int, int] = {}
    for i, side in win.fixed_sides.items():
        label.setdefault(assignment[i], parts[side])
    spare = [p for p in parts if p not in label.values()]
    for q in sorted(set(assignment)):
        if q not in label:
            label[q] = spare.pop(0)
    return label


@dataclass
class _Window:
    weights: list[int]
    edges: list[tuple[int, int, float]]
    members: list[list]
    hint: list[int]
    fixed: dict[int, int]
    fixed_sides: dict[int, int]
    roots: dict[int, int]
    n_free: int


def _window(prob: _Problem, plan: dict, parts: tuple, region: list, free: set) -> _Window:
    """The re-solve model of adjacent parts.

    The ``free`` units stay free; each connected group of the others is merged into one fixed
    node of its part.

    Fixed groups come first in the model (so its numbering of parts by lowest node follows
    them), then the free units in gridgeo's node order. Each merged group is connected, so a part
    is connected in the model exactly when its units are.
    """
    graph = prob.graph
    region = sorted(region, key=_order_key)
    inside = set(region)
    side = {n: parts.index(plan[n]) for n in region}
    dist = free
    group: dict = {}
    fixed_groups: list[list] = []
    for n in region:
        if n in group or n in dist:
            continue
        comp = [n]
        group[n] = ("f", len(fixed_groups))
        for u in comp:  # the fixed units of this part reachable from n without crossing free ones
            for m in graph.adj[u]:
                if m in inside and m not in group and m not in dist and side[m] == side[n]:
                    group[m] = group[n]
                    comp.append(m)
        fixed_groups.append(sorted(comp, key=_order_key))
    fixed_groups.sort(key=lambda g: (side[g[0]], _order_key(g[0])))
    free = [n for n in region if n in dist]
    members = [*fixed_groups, *([n] for n in free)]
    index = {n: i for i, m in enumerate(members) for n in m}
    links: dict[tuple[int, int], float] = {}
    for u, v in graph.edges(region):
        if v in inside:
            i, j = index[u], index[v]
            if i != j:
                key = (min(i, j), max(i, j))
                links[key] = links.get(key, 0.0) + prob.edge_cost(u, v)
    sides = [side[m[0]] for m in members]
    canon: dict[int, int] = {}
    for s in sides:
        canon.setdefault(s, len(canon))
    hint = [canon[s] for s in sides]
    nf = len(fixed_groups)
    return _Window(
        weights=[sum(prob.w[n] for n in m) for m in members],
        edges=[(i, j, c) for (i, j), c in sorted(links.items())],
        members=members,
        hint=hint,
        fixed={i: hint[i] for i in range(nf)},
        fixed_sides={i: sides[i] for i in range(nf)},
        roots={hint[i]: i for i in reversed(range(nf))},
        n_free=len(free),
    )


def _kick(prob: _Problem, best: dict, rng: np.random.Generator, report: SearchReport) -> tuple | None:
    """ReCom: merge two adjacent parts of ``best`` and re-split them along a random tree.

    Returns (plan, (a, b)), the new plan and the pair re-split, or None when no pair could be.
    """
    pairs = sorted(
        {
            (min(best[u], best[v]), max(best[u], best[v]))
            for u, v in prob.graph.edges
            if best[u] != best[v]
        }
    )
    if not pairs:
        return None
    for _ in range(4):
        a, b = pairs[int(rng.integers(len(pairs)))]
        region = [n for n in prob.graph if best[n] in (a, b)]
        report.kicks += 1
        report.det_used += KICK_CHARGE * (1 + len(region) / 100)
        sub = prob.graph.subgraph(region)
        split = bisection_plan(
            sub, prob.w, prob.lower, prob.upper, n_parts=2, cost=prob.cost,
            seed=int(rng.integers(2**31)), candidates=int(rng.integers(1, 9)),
        )  # fmt: skip
        if split is None:
            continue
        out = dict(best)
        for n in region:
            out[n] = a if split[n] == 0 else b
        return out, (a, b)
    return None


def _renumber(graph: nx.Graph, plan: dict) -> dict:
    """Parts renumbered by their lowest node."""
    seen: dict[int, int] = {}
    for n in sorted(graph.nodes, key=_order_key):
        seen.setdefault(plan[n], len(seen))
    return {n: seen[p] for n, p in plan.items()}
