"""The staffing models, solved with OR-Tools CP-SAT. The only module of export that imports ortools.

Everything going in and out is plain Python (indices, integer costs); :mod:`gridgeo.export.staff`
builds the problem from GeoDataFrames and turns the answer back into tables.

Full-time workers (规范 三.1): the grids are split into *patches* — one grid, or two or more
adjacent grids whose households stay under a cap — and every grid lies in exactly one chosen patch;
each chosen patch gets one full-time worker. Workers whose home is known choose among their nearest
patches; workers without a home are interchangeable inside their area and are drawn from a pool.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from ortools.sat.python import cp_model


class Status(StrEnum):
    """How a staffing solve ended, in gridgeo's terms."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    TIMED_OUT = "timed_out"


_STATUS = {
    cp_model.OPTIMAL: Status.OPTIMAL,
    cp_model.FEASIBLE: Status.FEASIBLE,
    cp_model.INFEASIBLE: Status.INFEASIBLE,
    cp_model.MODEL_INVALID: Status.INFEASIBLE,
    cp_model.UNKNOWN: Status.TIMED_OUT,
}


@dataclass
class FullTimeProblem:
    """Cover the grids with patches, one full-time worker each.

    Attributes
    ----------
    n_grids : int
    patches : list of tuple of int
        Grid indices of each candidate patch.
    loads : list of int
        Households of each patch.
    workers : list of list of (int, int)
        Per located worker: (patch index, travel cost) of its candidate patches.
    pools : list of (int, list of int)
        Per pool of interchangeable workers: (how many, patch indices they may serve).
    spread_weight : int
        Cost of one household of spread between the busiest and the idlest worker.
    """

    n_grids: int
    patches: list[tuple[int, ...]]
    loads: list[int]
    workers: list[list[tuple[int, int]]]
    pools: list[tuple[int, list[int]]]
    spread_weight: int = 10


@dataclass
class FullTimeSolution:
    """The chosen patches and who serves them."""

    status: Status
    missing: int
    patch_of_worker: list[int | None]
    pool_patches: list[list[int]]
    missing_patches: list[int] = field(default_factory=list)
    objective: float | None = None
    bound: float | None = None
    wall_time: float = 0.0


def _solver(time_limit: float, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    # Deterministic time and one worker: the same roster and seed give the same plan on any
    # machine at any load. The wall-clock cap is only a guard against a runaway solve.
    solver.parameters.max_deterministic_time = float(time_limit)
    solver.parameters.max_time_in_seconds = max(30.0, 20.0 * float(time_limit))
    solver.parameters.random_seed = int(seed)
    solver.parameters.num_workers = 1
    # Ctrl-C belongs to the run, not to one solve: CP-SAT would take it as "stop this search" and
    # the run would go on and replace its outputs. Left to Python, it raises KeyboardInterrupt as
    # soon as the solve returns (a deterministic budget of a second or less), and the command
    # ends with exit 130, its outputs untouched.
    solver.parameters.catch_sigint_signal = False
    return solver


def solve_full_time(  # noqa: C901 - builds and reads one CP-SAT model: each constraint family a block, kept together behind the solver wall
    problem: FullTimeProblem, *, time_limit: float = 10.0, seed: int = 0
) -> FullTimeSolution:
    """Phase 1: fewest patches no roster worker can take; phase 2 (when none): travel + spread.

    Parameters
    ----------
    problem : FullTimeProblem
    time_limit : float
        Deterministic seconds per phase.
    seed : int

    Returns
    -------
    FullTimeSolution
        ``missing`` > 0 means the roster cannot cover the grids; ``missing_patches`` are then
        the patches a new worker would take.
    """
    t0 = time.perf_counter()
    p_count = len(problem.patches)
    m = cp_model.CpModel()
    y = [m.new_bool_var(f"y{p}") for p in range(p_count)]
    virtual = [m.new_bool_var(f"v{p}") for p in range(p_count)]
    by_grid: list[list[int]] = [[] for _ in range(problem.n_grids)]
    for p, grids in enumerate(problem.patches):
        for g in grids:
            by_grid[g].append(p)
    for ps in by_grid:
        m.add_exactly_one(y[p] for p in ps)
    served: list[list] = [[] for _ in range(p_count)]
    x: list[dict[int, cp_model.IntVar]] = []
    travel = []
    for w, cands in enumerate(problem.workers):
        xs = {}
        for p, cost in cands:
            var = m.new_bool_var(f"x{w}_{p}")
            xs[p] = var
            served[p].append(var)
            travel.append(cost * var)
        m.add_at_most_one(xs.values())
        x.append(xs)
    pool_vars: list[dict[int, cp_model.IntVar]] = []
    for a, (count, allowed) in enumerate(problem.pools):
        vs = {}
        for p in allowed:
            var = m.new_bool_var(f"a{a}_{p}")
            vs[p] = var
            served[p].append(var)
        m.add(sum(vs.values()) <= count)
        pool_vars.append(vs)
    for p in range(p_count):
        m.add(sum(served[p]) + virtual[p] == y[p])

    # Phase 1: how many patches can no roster worker take? Then: employ as many roster
    # workers as possible (a grid is shared only when workers run short).
    m.minimize(problem.n_grids * 2 * sum(virtual) - sum(y))
    solver = _solver(time_limit, seed)
    code = solver.solve(m)
    status = _STATUS.get(code, Status.TIMED_OUT)
    if status in (Status.INFEASIBLE, Status.TIMED_OUT):
        return FullTimeSolution(status, -1, [None] * len(problem.workers), [[] for _ in problem.pools],
                                wall_time=time.perf_counter() - t0)  # fmt: skip
    missing = sum(int(solver.boolean_value(v)) for v in virtual)
    if missing > 0:
        return FullTimeSolution(
            status, missing, [None] * len(problem.workers), [[] for _ in problem.pools],
            missing_patches=[p for p in range(p_count) if solver.boolean_value(virtual[p])],
            wall_time=time.perf_counter() - t0,
        )  # fmt: skip

    # Phase 2: no virtual worker; least travel and least spread of households per worker.
    for p in range(p_count):
        m.add_hint(y[p], solver.boolean_value(y[p]))
    for xs in x:
        for var in xs.values():
            m.add_hint(var, solver.boolean_value(var))
    m.add(sum(virtual) == 0)
    m.add(sum(y) >= sum(int(solver.boolean_value(v)) for v in y))
    top = max(problem.loads, default=0)
    hi = m.new_int_var(0, top, "max_load")
    lo = m.new_int_var(0, top, "min_load")
    for p, load in enumerate(problem.loads):
        m.add(hi >= load).only_enforce_if(y[p])
        if load > 0:  # a grid without households (a school's dedicated grid) sets no floor
            m.add(lo <= load).only_enforce_if(y[p])
    m.minimize(sum(travel) + problem.spread_weight * (hi - lo))
    solver = _solver(time_limit, seed)
    code = solver.solve(m)
    status = _STATUS.get(code, Status.TIMED_OUT)
    if status in (Status.INFEASIBLE, Status.TIMED_OUT):  # pragma: no cover - phase 1 found one
        return FullTimeSolution(status, -1, [None] * len(problem.workers), [[] for _ in problem.pools],
                                wall_time=time.perf_counter() - t0)  # fmt: skip
    patch_of_worker = [
        next((p for p, v in xs.items() if solver.boolean_value(v)), None) for xs in x
    ]
    pool_patches = [sorted(p for p, v in vs.items() if solver.boolean_value(v)) for vs in pool_vars]
    return FullTimeSolution(
        status, 0, patch_of_worker, pool_patches,
        objective=solver.objective_value, bound=solver.best_objective_bound,
        wall_time=time.perf_counter() - t0,
    )  # fmt: skip


@dataclass
class SpreadProblem:
    """Give each of some people exactly one (or at most one) of some targets.

    Used for part-time workers (targets: grids; balance the count per grid) and for instructors
    (targets: clusters of adjacent grids; each cluster wants one).

    Attributes
    ----------
    n_targets : int
    people : list of list of (int, int)
        Per located person: (target, travel cost) candidates.
    pools : list of (int, list of int)
        Interchangeable people: (how many, allowed targets).
    balanced : list of int
        Targets whose head counts should be even (part-time: the community grids).
    per_target : int or None
        At most this many people per target (instructors: 1).
    cover : bool
        Maximise the number of targets that get someone before anything else (instructors).
    per_person : int
        Targets one person may take (instructors: several clusters).
    """

    n_targets: int
    people: list[list[tuple[int, int]]]
    pools: list[tuple[int, list[int]]]
    balanced: list[int] = field(default_factory=list)
    per_target: int | None = None
    cover: bool = False
    per_person: int = 1
    spread_weight: int = 1000


@dataclass
class SpreadSolution:
    status: Status
    targets_of_person: list[list[int]]
    pool_counts: list[dict[int, int]]
    wall_time: float = 0.0


def solve_spread(
    problem: SpreadProblem, *, time_limit: float = 5.0, seed: int = 0
) -> SpreadSolution:
    """Assign people to targets: least travel, even head counts, covering targets when asked."""
    t0 = time.perf_counter()
    m = cp_model.CpModel()
    heads: list[list] = [[] for _ in range(problem.n_targets)]
    z: list[dict[int, cp_model.IntVar]] = []
    cost = []
    for i, cands in enumerate(problem.people):
        vs = {}
        for t, c in cands:
            var = m.new_bool_var(f"z{i}_{t}")
            vs[t] = var
            heads[t].append(var)
            cost.append(c * var)
        if problem.cover:
            m.add(sum(vs.values()) <= problem.per_person)
        else:
            m.add_exactly_one(vs.values()) if vs else None
        z.append(vs)
    pools = []
    for a, (count, allowed) in enumerate(problem.pools):
        cap = problem.per_target if problem.per_target is not None else count
        vs = {t: m.new_int_var(0, cap, f"n{a}_{t}") for t in allowed}
        for t, var in vs.items():
            heads[t].append(var)
        m.add(sum(vs.values()) == count) if not problem.cover else m.add(
            sum(vs.values()) <= count * problem.per_person
        )
        pools.append(vs)
    terms = [sum(cost)] if cost else []
    if problem.per_target is not None:
        for t in range(problem.n_targets):
            m.add(sum(heads[t]) <= problem.per_target)
    if problem.cover:
        covered = [m.new_bool_var(f"c{t}") for t in range(problem.n_targets)]
        for t in range(problem.n_targets):
            m.add(sum(heads[t]) >= 1).only_enforce_if(covered[t])
        terms.append(-10_000_000 * sum(covered))
    if problem.balanced:
        total = len(problem.people) + sum(c for c, _ in problem.pools)
        hi = m.new_int_var(0, total, "hi")
        lo = m.new_int_var(0, total, "lo")
        for t in problem.balanced:
            m.add(hi >= sum(heads[t]))
            m.add(lo <= sum(heads[t]))
        terms.append(problem.spread_weight * (hi - lo))
    if terms:
        m.minimize(sum(terms))
    solver = _solver(time_limit, seed)
    code = solver.solve(m)
    status = _STATUS.get(code, Status.TIMED_OUT)
    if status in (Status.INFEASIBLE, Status.TIMED_OUT):
        return SpreadSolution(
            status,
            [[] for _ in problem.people],
            [{} for _ in problem.pools],
            time.perf_counter() - t0,
        )
    targets = [sorted(t for t, v in vs.items() if solver.boolean_value(v)) for vs in z]
    counts = [{t: int(solver.value(v)) for t, v in vs.items() if solver.value(v)} for vs in pools]
    return SpreadSolution(status, targets, counts, time.perf_counter() - t0)
