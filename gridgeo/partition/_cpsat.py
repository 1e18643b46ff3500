"""The CP-SAT model of a constrained partition. The only module of gridgeo that imports OR-Tools.

Model (nodes ``i``, undirected edges ``e = {i, j}``, parts ``p < P``):

* ``x[i, p]``: node ``i`` is in part ``p``; each node in exactly one part; node ``i`` may only
  use parts ``p <= i`` (symmetry breaking: parts are numbered by their lowest node).
* ``used[p]``: the part exists; ``used[p] >= used[p+1]``; the number of parts lies in
  ``[k_min, k_max]``. A used part's weight lies in ``[lower, upper]``.
* contiguity, a single-commodity flow (Shirabe 2009; Validi & Buchanan 2022): each used part
  has one root ``r[i, p]``; a root supplies flow, every other node consumes one unit; flow
  runs only along an edge whose ends are in the same part (``same[e]``). A node can only be
  reached from the root of its own part, so each part is connected.
* objective: the total cost of cut edges, ``sum cost[e] * (1 - same[e])``.

The solver runs with one worker and a deterministic time limit, so that the same inputs and
seed give the same answer on any machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from ortools.sat.python import cp_model

#: Costs are scaled to integers at this resolution (1 = 0.1 m of shared boundary).
COST_SCALE = 10
#: The labeling model's ordered roots (Validi & Buchanan 2022): the root of each part is its
#: lowest node and parts are numbered by root, with root fixing from the band. The proof step of
#: :func:`gridgeo.partition.core.solve_graph` (budget >= 5) turns it on for its own solve, in
#: :func:`root_order`'s node order; off by default for every other solve (the plain exact step
#: and the search's moves: not measured on the communities).
ORDERED_ROOTS = False


class SolveStatus(StrEnum):
    """How a partition was found."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIMED_OUT = "timed_out"
    HEURISTIC = "heuristic"
    TRIVIAL = "trivial"


@dataclass
class SolveResult:
    """The answer of one CP-SAT solve, in gridgeo's terms.

    Attributes
    ----------
    status : SolveStatus
    assignment : list of int or None
        Part index per node (in the order given), None without a solution.
    objective : float or None
        Total cost of cut edges of the solution.
    bound : float or None
        Best proven lower bound of that cost.
    wall_s : float
        Seconds spent.
    det_time : float
        CP-SAT's deterministic time spent (the machine-independent measure of effort).
    """

    status: SolveStatus
    assignment: list[int] | None
    objective: float | None
    bound: float | None
    wall_s: float
    det_time: float = 0.0

    @property
    def gap(self) -> float | None:
        """Relative gap between objective and bound (0 when optimal)."""
        if self.objective is None or self.bound is None:
            return None
        if self.objective <= 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / self.objective)


def solve_partition(  # noqa: C901, PLR0913 - the one place that builds the CP-SAT model (flow contiguity, band, cut, hints, roots)
    weights: list[int],
    edges: list[tuple[int, int, float]],
    lower: int,
    upper: int,
    k_min: int,
    k_max: int,
    *,
    hint: list[int] | None = None,
    fixed: dict[int, int] | None = None,
    deterministic_time: float = 10.0,
    seed: int = 0,
    hint_search: bool = False,
    roots: dict[int, int] | None = None,
    presolve: bool = True,
    ordered_roots: bool | None = None,
    linearization: int | None = None,
) -> SolveResult:
    """Solve the partition model on nodes ``0..n-1``.

    Parameters
    ----------
    weights : list of int
        Node weights (households).
    edges : list of (int, int, float)
        Undirected edges with the cost of cutting them.
    lower, upper : int
        The band of a part's weight.
    k_min, k_max : int
        The range of the number of parts.
    hint : list of int, optional
        A known plan (part per node) to start from; its parts are renumbered by lowest node.
    fixed : dict, optional
        Node -> part that must hold (after the same renumbering, so use with care).
    deterministic_time : float
        CP-SAT's deterministic time limit (about seconds on a typical machine).
    seed : int
        CP-SAT's random seed.
    hint_search : bool
        Branch on the hint's values first (CP-SAT's HINT_SEARCH): a short solve then explores
        the neighbourhood of a good plan instead of restarting from the LP.
    roots : dict, optional
        Part -> node that is the root of that part's flow (the node must be fixed to the part):
        removes the choice of root, which a re-solve around fixed nodes does not need.
    presolve : bool
        CP-SAT's presolve; a small re-solve is faster without it.
    ordered_roots : bool, optional
        Each part's root is its lowest node and parts are ordered by root (no two labellings
        or root choices of one plan), roots fixed out where the band forbids them; default
        :data:`ORDERED_ROOTS`.
    linearization : int, optional
        CP-SAT's ``linearization_level`` (default its own, 1). At 2 the clauses that tie the cut
        of an edge to the parts of its ends enter the LP, whose bound is then what proves a plan
        optimal (see :func:`gridgeo.partition.core.solve_graph`, the proof step).

    Returns
    -------
    SolveResult
    """
    start = time.perf_counter()
    n = len(weights)
    P = min(k_max, n)
    m = cp_model.CpModel()
    LinearExpr = cp_model.LinearExpr
    x = {}
    for i in range(n):
        for p in range(min(i + 1, P)):
            x[i, p] = m.new_bool_var("")
        m.add_exactly_one([x[i, p] for p in range(min(i + 1, P))])
    used = [m.new_bool_var("") for p in range(P)]
    for p in range(P - 1):
        m.add_implication(used[p + 1], used[p])
    m.add_linear_constraint(LinearExpr.sum(used), k_min, k_max)
    members = {p: [i for i in range(n) if (i, p) in x] for p in range(P)}
    for p in range(P):
        load = LinearExpr.weighted_sum(
            [x[i, p] for i in members[p]], [weights[i] for i in members[p]]
        )
        m.add(load >= lower * used[p])
        m.add(load <= upper * used[p])
        for i in members[p]:
            m.add_implication(x[i, p], used[p])
    # Roots and flow.
    r = {}
    for p in range(P):
        for i in members[p]:
            r[i, p] = m.new_bool_var("")
            m.add_implication(r[i, p], x[i, p])
        m.add(LinearExpr.sum([r[i, p] for i in members[p]]) == used[p])
    ordered = ORDERED_ROOTS if ordered_roots is None else ordered_roots
    pre = _order_roots(m, x, r, used, weights, edges, lower, upper, k_min) if ordered else {}
    same = []
    flows: dict[tuple[int, int], cp_model.IntVar] = {}
    supplies = []
    flow_in: list[list] = [[] for _ in range(n)]
    flow_out: list[list] = [[] for _ in range(n)]
    obj_vars = []
    obj_coefs = []
    # With two parts, x[i, 1] is the negation of x[i, 0]: part 0's clauses say it all.
    span = 1 if P == 2 else P
    for i, j, c in edges:
        s = m.new_bool_var("")
        ns = s.Not()
        same.append(s)
        for p in range(span):
            a, b = (i, p) in x, (j, p) in x
            if a and b:
                # same => x[i, p] == x[j, p], as two clauses (|x_i - x_j| <= 1 - s).
                m.add_bool_or([x[i, p].Not(), x[j, p], ns])
                m.add_bool_or([x[j, p].Not(), x[i, p], ns])
            elif a:
                m.add_implication(s, x[i, p].Not())
            elif b:
                m.add_implication(s, x[j, p].Not())
        for u, v in ((i, j), (j, i)):
            f = m.new_int_var(0, n, "")
            m.add(f == 0).only_enforce_if(ns)
            flow_out[u].append(f)
            flow_in[v].append(f)
            flows[u, v] = f
        obj_vars.append(s)
        obj_coefs.append(max(1, round(c * COST_SCALE)))
    for i in range(n):
        supply = m.new_int_var(0, n, "")
        supplies.append(supply)
        root_vars = [r[i, p] for p in range(P) if (i, p) in r]
        m.add(supply <= n * LinearExpr.sum(root_vars))
        m.add(LinearExpr.sum(flow_out[i]) - LinearExpr.sum(flow_in[i]) == supply - 1)
    m.minimize(sum(obj_coefs) - LinearExpr.weighted_sum(obj_vars, obj_coefs))
    if hint is not None:
        relabel = _canonical(hint)
        k_hint = max(relabel) + 1
        pairs = [(var, relabel[i] == p) for (i, p), var in x.items()]
        pairs += [(used[p], p < k_hint) for p in range(P)]
        pairs += [(same[e], relabel[i] == relabel[j]) for e, (i, j, _c) in enumerate(edges)]
        pairs += _hint_flow(relabel, edges, r, flows, supplies)
        first = {}
        for i, q in enumerate(relabel):
            first.setdefault(q, i)
        pairs += [(var, q in first and first[q] <= i) for (i, q), var in pre.items()]
        h = m.proto.solution_hint
        h.vars.extend([var.index for var, _ in pairs])
        h.values.extend([int(val) for _, val in pairs])
    if fixed:
        for i, p in fixed.items():
            m.add(x[i, p] == 1)
    if roots:
        for p, i in roots.items():
            m.add(r[i, p] == 1)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    # Ctrl-C belongs to the run, not to one solve: CP-SAT would take it as "stop this search" and
    # the run would go on and replace its outputs. Left to Python, it raises KeyboardInterrupt as
    # soon as the solve returns (a deterministic budget of a second or less), and the command
    # ends with exit 130, its outputs untouched.
    solver.parameters.catch_sigint_signal = False
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = float(deterministic_time)
    if not presolve:
        solver.parameters.cp_model_presolve = False
    if linearization is not None:
        solver.parameters.linearization_level = int(linearization)
    if hint_search and hint is not None:
        solver.parameters.search_branching = cp_model.HINT_SEARCH
    code = solver.solve(m)
    wall = time.perf_counter() - start
    det = float(solver.response_proto.deterministic_time)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        assign = [next(p for p in range(min(i + 1, P)) if solver.value(x[i, p])) for i in range(n)]
        objective = solver.objective_value / COST_SCALE
        bound = solver.best_objective_bound / COST_SCALE
        status = SolveStatus.OPTIMAL if code == cp_model.OPTIMAL else SolveStatus.FEASIBLE
        return SolveResult(status, assign, objective, bound, wall, det)
    if code == cp_model.INFEASIBLE:
        return SolveResult(SolveStatus.INFEASIBLE, None, None, None, wall, det)
    return SolveResult(SolveStatus.TIMED_OUT, None, None, None, wall, det)


def _order_roots(m, x, r, used, weights, edges, lower, upper, k_min) -> dict:  # noqa: PLR0913 - the model's parts
    """Ordered roots: ``r[i, p]`` iff ``i`` is the lowest node of part ``p``; roots increase with ``p``.

    ``pre[i, p]`` says part ``p`` has a node at or below ``i``. A node cannot be the root of part
    ``p`` when the nodes below it weigh more than ``p`` parts can hold, when the nodes from it on
    weigh less than the parts from ``p`` on need, or when its component among the nodes from it
    on weighs less than ``lower``. Returns the ``pre`` variables (for the hint).
    """
    n = len(weights)
    P = len(used)
    below = [0] * (n + 1)
    for i, wt in enumerate(weights):
        below[i + 1] = below[i] + wt
    total = below[n]
    reach = _reach_from_on(n, weights, edges)
    pre: dict = {}
    for p in range(P):
        prev = None
        for i in range(p, n):
            v = m.new_bool_var("")
            pre[i, p] = v
            m.add_implication(x[i, p], v)
            if prev is None:
                m.add(r[i, p] == v)
            else:
                m.add_implication(prev, v)
                m.add(v <= prev + x[i, p])
                m.add(r[i, p] + prev == v)
            need = max(1, k_min - p) * lower
            if below[i] > p * upper or total - below[i] < need or reach[i] < lower:
                m.add(r[i, p] == 0)
            prev = v
        if p > 0:
            for i in range(p, n):
                m.add_implication(pre[i, p], pre[i - 1, p - 1])
    return pre


def root_order(weights: list[int], edges, plan: list[int], lower: int) -> tuple[list[int], int]:
    """A node order for the ordered roots in which few nodes can be a root (Validi & Buchanan's L-fixing).

    Every part is connected and weighs at least ``lower``, so no part fits inside a set ``B`` of
    nodes whose connected pieces all weigh less than ``lower``: put ``B`` last and a part's
    lowest node, its root, is never in ``B``. ``B`` is grown from the plan: every node but the
    ends of its cut edges (and further rings while a piece is still too heavy), then those ends
    put back one by one, lightest first, while every piece stays below ``lower``. Valid for any
    plan; a good plan leaves few possible roots (9-21 on the tract graphs).

    Parameters
    ----------
    weights : list of int
    edges : list of (int, int, float)
    plan : list of int
        Part per node (any plan; it only guides the choice of ``B``).
    lower : int
        The band's lower bound.

    Returns
    -------
    order : list of int
        The nodes, possible roots first (heaviest first), then ``B`` in index order.
    roots : int
        How many nodes can be a root (the first ``roots`` of ``order``).
    """
    n = len(weights)
    if lower <= 0:
        return list(range(n)), n
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j, _c in edges:
        adj[i].append(j)
        adj[j].append(i)
    ring = {v for i, j, _c in edges if plan[i] != plan[j] for v in (i, j)}
    inside = [v not in ring for v in range(n)]
    while _heaviest_piece(weights, adj, inside) >= lower:
        wider = ring | {j for i in ring for j in adj[i]}
        if wider == ring:  # no cut edge (one part) or a piece the rings do not reach
            return list(range(n)), n
        ring = wider
        inside = [v not in ring for v in range(n)]
    for v in sorted(ring, key=lambda v: (weights[v], v)):
        inside[v] = True
        if _heaviest_piece(weights, adj, inside) >= lower:
            inside[v] = False
    front = sorted((v for v in range(n) if not inside[v]), key=lambda v: (-weights[v], v))
    return front + [v for v in range(n) if inside[v]], len(front)


def _heaviest_piece(weights: list[int], adj: list[list[int]], inside: list[bool]) -> int:
    """The weight of the heaviest connected piece of the nodes marked ``inside`` (0 when none)."""
    seen = [False] * len(weights)
    best = 0
    for s in range(len(weights)):
        if not inside[s] or seen[s]:
            continue
        seen[s] = True
        stack, total = [s], 0
        while stack:
            u = stack.pop()
            total += weights[u]
            for v in adj[u]:
                if inside[v] and not seen[v]:
                    seen[v] = True
                    stack.append(v)
        best = max(best, total)
    return best


def _reach_from_on(n: int, weights: list[int], edges) -> list[int]:
    """Per node ``i``, the weight of its connected component among the nodes ``>= i``.

    Adds the nodes from the highest down with a union-find, so it is near linear.
    """
    parent = list(range(n))
    size = list(weights)
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j, _c in edges:
        adj[min(i, j)].append(max(i, j))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    out = [0] * n
    for i in reversed(range(n)):
        for j in adj[i]:
            a, b = find(i), find(j)
            if a != b:
                parent[b] = a
                size[a] += size[b]
        out[i] = size[find(i)]
    return out


def _hint_flow(relabel, edges, r, flows, supplies) -> list:
    """Complete a hint: roots at each part's lowest node, flow along a BFS tree of the part.

    Returns (variable, value) pairs.
    """
    n = len(relabel)
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j, _c in edges:
        if relabel[i] == relabel[j]:
            adj[i].append(j)
            adj[j].append(i)
    parent = [-2] * n
    order: list[int] = []
    for root in range(n):
        if parent[root] != -2:
            continue
        parent[root] = -1
        queue = [root]
        for u in queue:
            for v in adj[u]:
                if parent[v] == -2:
                    parent[v] = u
                    queue.append(v)
        order.extend(queue)
    size = [1] * n
    for u in reversed(order):
        if parent[u] >= 0:
            size[parent[u]] += size[u]
    out = [(var, size[v] if parent[v] == u else 0) for (u, v), var in flows.items()]
    out += [(supplies[i], size[i] if parent[i] == -1 else 0) for i in range(n)]
    out += [(var, parent[i] == -1 and relabel[i] == p) for (i, p), var in r.items()]
    return out


def _canonical(plan: list[int]) -> list[int]:
    """Renumber parts in the order of their lowest node (the model's symmetry breaking)."""
    seen: dict[int, int] = {}
    out = []
    for p in plan:
        if p not in seen:
            seen[p] = len(seen)
        out.append(seen[p])
    return out
