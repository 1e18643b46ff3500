"""Lower bounds of the cut on the tract graphs with proven optima (issue 16), run by hand.

    .venv/bin/python benchmarks/bench_bounds.py --states NH ID ME --det 30

For each graph (``../shared/data/districting/``, read from there), the plan of
``solve_graph(..., time_limit=5, seed=0)`` is the warm start, then CP-SAT (one worker, seed 0)
runs on each model for ``--det`` deterministic seconds and the row gives its status, plan and
proven bound:

* ``relaxed L1`` / ``relaxed L2``: the balanced k-way cut without contiguity (a valid lower
  bound of the connected problem), CP-SAT's linearization level 1 (its default) or 2;
* ``relaxed core``: the same at level 1 with core-based search (``optimize_with_core``);
* ``exact L1`` / ``exact L2``: gridgeo's model (:func:`gridgeo.partition._cpsat.solve_partition`,
  flow contiguity) in the graph's own order, plain roots;
* ``ordered L2``: the same with ordered roots in :func:`~gridgeo.partition._cpsat.root_order`'s
  order (what ``solve_graph``'s proof step runs).

Figures go to benchmarks/RESULTS.md by hand (section "Optimiser: proving optimality").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import networkx as nx
from ortools.sat.python import cp_model

from gridgeo.partition._cpsat import root_order, solve_partition
from gridgeo.partition.core import solve_graph

DISTRICTING = next(
    (d for up in (2, 3) if (d := Path(__file__).resolve().parents[up] / "shared" / "data" / "districting").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "districting",
)
MODELS = ["relaxed L1", "relaxed core", "relaxed L2", "exact L1", "exact L2", "ordered L2"]


def relaxed(d: dict, det: float, level: int, core: bool) -> tuple[str, float | None, float]:
    """The balanced k-way cut without contiguity. Returns (status, bound, det time)."""
    n, k, w = len(d["population"]), d["k"], d["population"]
    m = cp_model.CpModel()
    x = {(i, p): m.new_bool_var("") for i in range(n) for p in range(min(i + 1, k))}
    for i in range(n):
        m.add_exactly_one([x[i, p] for p in range(min(i + 1, k))])
    for p in range(k):
        load = cp_model.LinearExpr.weighted_sum([x[i, p] for i in range(p, n)], [w[i] for i in range(p, n)])
        m.add_linear_constraint(load, d["lower"], d["upper"])
    cut = []
    for i, j in d["edges"]:
        c = m.new_bool_var("")
        cut.append(c)
        for p in range(k if k > 2 else 1):
            if (i, p) in x and (j, p) in x:
                m.add_bool_or([x[i, p].Not(), x[j, p], c])
                m.add_bool_or([x[j, p].Not(), x[i, p], c])
            elif (i, p) in x or (j, p) in x:
                m.add_implication(x[i, p] if (i, p) in x else x[j, p], c)
    m.minimize(cp_model.LinearExpr.sum(cut))
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    s.parameters.random_seed = 0
    s.parameters.max_deterministic_time = det
    s.parameters.linearization_level = level
    s.parameters.optimize_with_core = core
    code = s.solve(m)
    return s.status_name(code).lower(), s.best_objective_bound, s.response_proto.deterministic_time


def exact(d: dict, plan: list[int], det: float, level: int, ordered: bool) -> tuple[str, float | None, float]:
    """gridgeo's model, warm-started from ``plan``. Returns (status, bound, det time)."""
    n = len(d["population"])
    edges = [(min(i, j), max(i, j), 1.0) for i, j in d["edges"]]
    order = root_order(d["population"], edges, plan, d["lower"])[0] if ordered else list(range(n))
    pos = {v: p for p, v in enumerate(order)}
    renum = sorted((min(pos[i], pos[j]), max(pos[i], pos[j]), 1.0) for i, j, _c in edges)
    res = solve_partition([d["population"][v] for v in order], renum, d["lower"], d["upper"], d["k"], d["k"],
                          hint=[plan[v] for v in order], deterministic_time=det, ordered_roots=ordered,
                          linearization=level)  # fmt: skip
    return res.status.value, res.bound, res.det_time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--states", nargs="*", default=["NH", "ID", "ME", "WV", "NM", "NE"])
    ap.add_argument("--det", type=float, default=30.0, help="deterministic seconds per model")
    ap.add_argument("--models", nargs="*", default=MODELS)
    args = ap.parse_args()
    print("| state | k | optimum | warm start (5 s) | possible roots | model | status | bound | det s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for st in args.states:
        d = json.loads((DISTRICTING / f"tract_{st}.json").read_text())
        g = nx.Graph()
        g.add_nodes_from((i, {"population": p}) for i, p in enumerate(d["population"]))
        g.add_edges_from(map(tuple, d["edges"]))
        sol = solve_graph(g, "population", d["lower"], d["upper"], n_parts=d["k"], time_limit=5.0, seed=0)
        plan = [sol.assignment[i] for i in range(len(g))]
        edges = [(min(i, j), max(i, j), 1.0) for i, j in d["edges"]]
        roots = root_order(d["population"], edges, plan, d["lower"])[1]
        for name in args.models:
            t = time.perf_counter()
            kind, level = name.split()
            if kind == "relaxed":
                status, bound, det = relaxed(d, args.det, 2 if level == "L2" else 1, level == "core")
            else:
                status, bound, det = exact(d, plan, args.det, 2 if level == "L2" else 1, kind == "ordered")
            b = "-" if bound is None else f"{bound:g}"
            print(f"| {st} | {d['k']} | {d['optimal_cut_edges']} | {sol.objective:g} | {roots} of {len(g)} | {name} | "
                  f"{status} | {b} | {det:.1f} | {time.perf_counter() - t:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
