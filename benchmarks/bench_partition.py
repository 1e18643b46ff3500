"""Partitioner benchmarks (issue 3), run by hand; figures go to benchmarks/RESULTS.md.

    .venv/bin/pip install spopt          # the comparison needs pysal's spopt (not a dependency)
    .venv/bin/python benchmarks/bench_partition.py            # everything
    .venv/bin/python benchmarks/bench_partition.py --quick    # small sizes, to check it runs

Measured side by side in one run, on an otherwise idle machine:

1. square rook lattices of 100, 400 and 900 cells with 10-80 households per cell, and the
   sample's communities: gridgeo's ``partition_graph`` (band 300-500) against spopt's
   ``MaxPHeuristic`` (threshold = lower bound 300; spopt has no upper bound): wall time, the
   ratio, and the share of regions / grids inside [300, 500];
2. one community of 5,000 households in about 300 buildings: median wall time of the partition;
3. generated cities of 10k, 100k and 300k buildings (real Qingdao frame): time of validate,
   units and partition on 2 Dask workers, and peak memory of the driver and its workers
   (each size in a fresh process);
4. the optimiser (issue 16; ``pip install -e '.[bench]'`` for GerryChain):

   * ``tracts``: the six census-tract graphs with proven optima in ``../shared/data/districting/``
     (read from there, never copied), at 5 and 60 deterministic seconds, side by side with
     GerryChain (``recursive_tree_part`` then ReCom for the same wall time, best plan seen);
   * ``lattices_gc``: the lattices of (1), gridgeo at its default budget against GerryChain for
     the same wall time at gridgeo's number of parts;
   * ``fixedk``: a 486-unit building graph (gridgeo's units of a generated community of 30,500
     households) at fixed counts near the fewest parts (61-64), band 300-500: does each find a plan;
   * ``communities``: total cut of the sample's 53 communities and of 205 generated ones, at the
     default budget (0.5) and the city's (0.02).

       .venv/bin/python benchmarks/bench_partition.py tracts lattices_gc fixedk communities
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import geopandas as gpd  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from _results import write_section  # noqa: E402

from gridgeo.partition import check_plan, partition_district, solve_graph  # noqa: E402
from gridgeo.synth import lattice_graph  # noqa: E402

LOWER, UPPER = 300, 500
#: CP-SAT deterministic budget of the lattice runs (the speed setting; the cut costs are reported).
LATTICE_TIME_LIMIT = 0.05


def _spopt_maxp(gdf: gpd.GeoDataFrame, seed: int = 0):
    """Run spopt's MaxPHeuristic with threshold = lower bound; return (labels, seconds)."""
    from libpysal.weights import Rook
    from spopt.region import MaxPHeuristic

    np.random.seed(seed)  # noqa: NPY002 - spopt draws from numpy's global generator
    w = Rook.from_dataframe(gdf, use_index=True, silence_warnings=True)
    t = time.perf_counter()
    model = MaxPHeuristic(gdf, w, ["households"], "households", LOWER, top_n=2)
    model.solve()
    return np.asarray(model.labels_), time.perf_counter() - t


def _share_in_band(households: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    sums = {}
    for h, lab in zip(households, labels, strict=True):
        sums[lab] = sums.get(lab, 0) + h
    vals = [v for k, v in sums.items() if k != 0 or len(sums) == 1]
    inside = sum(LOWER <= v <= UPPER for v in vals)
    return inside / max(len(vals), 1), len(vals)


def lattices(sides: list[int], with_spopt: bool) -> str:
    rows = ["| lattice | cells | gridgeo s | gridgeo grids in band | gridgeo cut edges | spopt s | spopt regions in band | speed-up |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for side in sides:
        g = lattice_graph(side, seed=side)
        runs = []
        for _ in range(3):  # gridgeo is deterministic: the median of 3 runs is its time
            t = time.perf_counter()
            sol = solve_graph(g, "households", LOWER, UPPER, seed=0, time_limit=LATTICE_TIME_LIMIT)
            runs.append(time.perf_counter() - t)
        tg = statistics.median(runs)
        assert check_plan(g, sol.assignment, "households", LOWER, UPPER) == []
        nodes = sorted(g.nodes)
        hh = np.array([g.nodes[n]["households"] for n in nodes])
        parts = np.array([sol.assignment[n] for n in nodes])
        share_g, k_g = _share_in_band(hh, parts + 1)
        if with_spopt:
            gdf = gpd.GeoDataFrame(
                {"households": hh}, geometry=[shapely.box(c, -r, c + 1, -r + 1) for r, c in nodes]
            )
            labels, ts = _spopt_maxp(gdf)
            share_s, k_s = _share_in_band(hh, labels)
            rows.append(f"| {side}x{side} | {side * side} | {tg:.3f} | {share_g:.0%} of {k_g} | {sol.objective:.0f} | "
                        f"{ts:.1f} | {share_s:.0%} of {k_s} | {ts / tg:.0f}x |")  # fmt: skip
        else:
            rows.append(f"| {side}x{side} | {side * side} | {tg:.3f} | {share_g:.0%} of {k_g} | {sol.objective:.0f} "
                        "| - | - | - |")  # fmt: skip
        print(rows[-1], flush=True)
    return "\n".join(rows)


def sample(with_spopt: bool) -> str:
    from gridgeo.synth import qingdao_sample
    from gridgeo.units import build_units, community_graph
    from gridgeo.validate import validate_layers

    district = validate_layers(qingdao_sample(seed=0))
    units = build_units(district)
    t = time.perf_counter()
    res = partition_district(district, units=units, seed=0)
    tg = time.perf_counter() - t
    com = res.grids[(res.grids["grid_class"] == "community")]
    legal = res.report[res.report["flags"] == ""]["community_code"]
    mine = com[com["community_code"].isin(legal)]
    share_g = mine["households"].between(LOWER, UPPER).mean()
    line = (f"gridgeo: {len(com)} community grids in {tg:.1f} s (53 communities, units prebuilt); "
            f"in communities the band can fit ({len(legal)}), {share_g:.0%} of {len(mine)} grids in [300, 500]; "
            f"all {len(com)} grids flagged or in band: {bool(((com['flag'] != '') | com['households'].between(LOWER, UPPER)).all())}.")  # fmt: skip
    if not with_spopt:
        return line + (
            "\n\nspopt MaxPHeuristic on the sample's unit graphs (80-150 units per community) did not finish: "
            "stopped after 15 minutes on the 44 villages and again after 15 minutes on the 9 urban communities "
            "(2026-11-25, spopt 0.7.0), against seconds for gridgeo on all 53."
        )
    ts = 0.0
    inside = total = 0
    u = units.units.set_index("unit_id")
    # spopt's simulated annealing takes minutes per village here: compare on the urban street.
    urban = [c for c in legal if c.startswith("370203026")]
    t = time.perf_counter()
    res_u = partition_district(district.subset(urban), units=units, seed=0, communities=urban)
    tg_u = time.perf_counter() - t
    for code in urban:
        g = community_graph(units, code)
        for comp in nx.connected_components(g):
            ids = sorted(comp)
            sub = gpd.GeoDataFrame({"households": u.loc[ids, "households"].to_numpy()}, geometry=u.loc[ids].geometry.values,
                                   crs=u.crs)  # fmt: skip
            if sub["households"].sum() < LOWER:
                continue
            try:
                labels, dt_ = _spopt_maxp(sub.reset_index(drop=True))
            except Exception as exc:  # noqa: BLE001 - spopt fails on some shapes; count it
                print(f"spopt failed on {code}: {exc}", flush=True)
                continue
            ts += dt_
            s, k = _share_in_band(sub["households"].to_numpy(), labels)
            inside += round(s * k)
            total += k
    ug = res_u.grids[res_u.grids["grid_class"] == "community"]
    return line + (
        f"\n\nOn the {len(urban)} urban communities of 阜新路街道: gridgeo {tg_u:.2f} s, "
        f"{ug['households'].between(LOWER, UPPER).mean():.0%} of {len(ug)} grids in [300, 500]; spopt MaxPHeuristic "
        f"{ts:.1f} s, {inside / max(total, 1):.0%} of {total} regions in [300, 500]; speed-up {ts / tg_u:.0f}x. "
        "(spopt on the 44 villages was stopped after 15 minutes.)"
    )


def one_community(repeats: int) -> str:
    from gridgeo.units import build_units
    from gridgeo.validate import validate_layers

    rng = np.random.default_rng(5)
    x0, y0 = 500_000.0, 3_990_000.0
    com = gpd.GeoDataFrame({"community_code": ["370203026002"], "name": ["南山社区居委会"]},
                           geometry=[shapely.box(x0, y0, x0 + 1200, y0 + 1000)], crs="EPSG:4549")  # fmt: skip
    pts = rng.uniform([x0 + 20, y0 + 20], [x0 + 1180, y0 + 980], size=(300, 2))
    hh = rng.integers(6, 28, size=300)
    hh = np.round(hh * 5000 / hh.sum()).astype(int)
    hh[0] += 5000 - hh.sum()
    bld = gpd.GeoDataFrame({"building_id": [f"B{i:04d}" for i in range(300)], "households": hh, "residents": hh * 3},
                           geometry=shapely.buffer(shapely.points(pts), 8, cap_style="square"), crs="EPSG:4549")  # fmt: skip
    district = validate_layers({"communities": com, "buildings": bld})
    units = build_units(district)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        res = partition_district(district, units=units, seed=0)
        times.append(time.perf_counter() - t)
    g = res.grids
    return (
        f"{int(hh.sum())} households in 300 buildings ({len(units.units)} units): {len(g)} grids, "
        f"households {g['households'].min()}-{g['households'].max()}, status {res.report['status'].iloc[0]}; "
        f"median {statistics.median(times):.2f} s over {repeats} runs (min {min(times):.2f}, max {max(times):.2f})."
    )


def _city_worker(n_buildings: int) -> dict:
    """One city size, in this (fresh) process: generate, then time validate/units/partition."""
    from gridgeo.batch import run_partition
    from gridgeo.options import PartitionOptions
    from gridgeo.synth import city_towns, community_frame, generate_layers
    from gridgeo.validate import validate_layers

    t = time.perf_counter()
    # The real frame of the whole city is built once; its communities are filled in chunks, in
    # code order, until the size is reached (regenerating the growing city per added county
    # made the 300k row quadratic).
    frame = community_frame(city_towns(), seed=0)
    parts: list[dict] = []
    n_have = 0
    for i, start in enumerate(range(0, len(frame), 250)):
        part = generate_layers(frame.iloc[start : start + 250], seed=i, scale=1.0)
        for v in part.values():  # land-use, road and river ids restart per chunk
            for col in (c for c in v.columns if c.endswith("_id") and c != "building_id"):
                v[col] = f"C{i}-" + v[col].astype(str)
        parts.append(part)
        n_have += len(part["buildings"])
        if n_have >= n_buildings:
            break
    layers = {
        k: gpd.GeoDataFrame(pd.concat([p[k] for p in parts], ignore_index=True), crs=parts[0][k].crs)
        for k in parts[0]
    }
    b = layers["buildings"]
    if len(b) > n_buildings:  # keep whole communities, in order, up to the size
        per = b.groupby("community_code").size()
        codes = layers["communities"]["community_code"]
        upto = per.reindex(codes).fillna(0).cumsum().to_numpy()
        keep = set(codes.iloc[: max(1, int(np.searchsorted(upto, n_buildings)) + 1)])
        layers = {
            k: (v[v["community_code"].isin(keep)] if "community_code" in v.columns else v)
            for k, v in layers.items()
        }
    gen = time.perf_counter() - t
    t = time.perf_counter()
    district = validate_layers(layers)
    tv = time.perf_counter() - t
    sampler = _TreeMemory()
    t = time.perf_counter()
    res = run_partition(district, options=PartitionOptions(time_limit=0.05), workers=2)
    tp = time.perf_counter() - t
    peak = max(sampler.stop(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"buildings": len(district.buildings), "communities": len(district.communities),
            "households": int(district.buildings["households"].sum()), "grids": len(res.result.grids),
            "generate_s": round(gen, 1), "validate_s": round(tv, 1), "units_partition_s": round(tp, 1), "peak_mib": round(peak)}  # fmt: skip


class _TreeMemory:
    """Peak resident memory (MiB) of this process and its children (the Dask workers)."""

    def __init__(self, every_s: float = 0.2) -> None:
        import threading

        import psutil

        self.peak = 0.0
        self._stop = threading.Event()
        me = psutil.Process()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    procs = [me, *me.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in procs if p.is_running())
                except psutil.Error:
                    continue
                self.peak = max(self.peak, rss / 1024**2)
                self._stop.wait(every_s)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def cities(sizes: list[int]) -> str:
    rows = ["| buildings | communities | households | grids | validate s | units + partition s | s per 1k buildings | peak MiB |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--city-worker", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        per = (r["validate_s"] + r["units_partition_s"]) / (r["buildings"] / 1000)
        rows.append(f"| {r['buildings']} | {r['communities']} | {r['households']} | {r['grids']} | {r['validate_s']} | "
                    f"{r['units_partition_s']} | {per:.2f} | {r['peak_mib']} |")  # fmt: skip
        print(rows[-1], flush=True)
    return "\n".join(rows)


#: ``../shared/data/districting`` beside the repository (or beside the folder of a git worktree).
DISTRICTING = next(
    (d for up in (2, 3) if (d := Path(__file__).resolve().parents[up] / "shared" / "data" / "districting").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "districting",
)
TRACTS = ["NH", "ID", "ME", "WV", "NM", "NE"]


def _tract(state: str) -> tuple[nx.Graph, dict]:
    d = json.loads((DISTRICTING / f"tract_{state}.json").read_text())
    g = nx.Graph()
    for i, p in enumerate(d["population"]):
        g.add_node(i, population=p)
    g.add_edges_from(map(tuple, d["edges"]))
    return g, d


def _gerrychain(g: nx.Graph, col: str, k: int, lower: int, upper: int, wall: float, seed: int = 0):
    """GerryChain: recursive_tree_part, then ReCom for ``wall`` seconds. Returns (first, best, steps).

    Its band is symmetric about the mean, ``mean * (1 +- eps)``; eps is the largest that keeps it
    inside ``[lower, upper]``, so every plan it makes is legal here.
    """
    import random
    from functools import partial

    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.partition import recursive_tree_part
    from gerrychain.proposals import recom
    from gerrychain.tree import bipartition_tree
    from gerrychain.updaters import Tally, cut_edges

    total = sum(d[col] for _, d in g.nodes(data=True))
    mean = total / k
    eps = min(upper - mean, mean - lower) / mean
    gg = Graph.from_networkx(g)
    t = time.perf_counter()
    cut_fn = partial(bipartition_tree, max_attempts=20_000)
    try:
        assignment = recursive_tree_part(gg, range(k), mean, col, eps, bipartition_tree_fn=cut_fn, rng=seed)
    except Exception:  # noqa: BLE001 - GerryChain raises when it finds no balanced cut
        return None, None, 0
    part = Partition(gg, assignment, updaters={"population": Tally(col, alias="population"), "cut_edges": cut_edges})
    first = best = len(part["cut_edges"])
    chain = MarkovChain(partial(recom, pop_col=col, pop_target=mean, epsilon=eps, node_repeats=2),
                        constraints=[], initial_partition=part, total_steps=10**9, rng=random.Random(seed))  # fmt: skip
    steps = 0
    it = iter(chain)
    while time.perf_counter() - t <= wall:
        try:
            state = next(it)
        except Exception:  # noqa: BLE001 - a ReCom step that finds no balanced cut ends the chain (ME at 60 s)
            break
        best = min(best, len(state["cut_edges"]))
        steps += 1
    return first, best, steps


def tracts(budgets: list[float], with_gc: bool) -> str:
    rows = ["| state | nodes | k | budget (det s) | gridgeo cut | status | budget used | wall s | proven optimum | GerryChain 10,000 it. (paper) | GerryChain same wall: first / best (steps) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    totals: dict[float, int] = {}
    opt_sum = 0
    for st in TRACTS:
        g, d = _tract(st)
        opt_sum += d["optimal_cut_edges"]
        for b in budgets:
            t = time.perf_counter()
            sol = solve_graph(g, "population", d["lower"], d["upper"], n_parts=d["k"], time_limit=b, seed=0)
            wall = time.perf_counter() - t
            assert check_plan(g, sol.assignment, "population", d["lower"], d["upper"]) == []
            totals[b] = totals.get(b, 0) + sol.objective
            gc = "-"
            if with_gc:
                first, best, steps = _gerrychain(g, "population", d["k"], d["lower"], d["upper"], wall)
                gc = "no plan" if first is None else f"{first} / {best} ({steps})"
            rows.append(f"| {st} | {len(g)} | {d['k']} | {b:g} | {sol.objective:.0f} | {sol.status.value} | "
                        f"{sol.det_time / b:.0%} | {wall:.0f} | {d['optimal_cut_edges']} | {d['gerrychain_10000_iterations']} | {gc} |")  # fmt: skip
            print(rows[-1], flush=True)
    lines = [f"total at {b:g} s: {v:.0f} against {opt_sum} ({v / opt_sum - 1:+.1%})" for b, v in totals.items()]
    return "\n".join(rows) + "\n\n" + "; ".join(lines) + "."


def lattices_gc(sides: list[int]) -> str:
    rows = ["| lattice | parts | gridgeo cut (budget 0.5) | wall s | GerryChain same wall: first / best (steps) |",
            "|---|---|---|---|---|"]  # fmt: skip
    for side in sides:
        g = lattice_graph(side, seed=side)
        t = time.perf_counter()
        sol = solve_graph(g, "households", LOWER, UPPER, seed=0, time_limit=0.5)
        wall = time.perf_counter() - t
        first, best, steps = _gerrychain(g, "households", sol.n_parts, LOWER, UPPER, wall)
        gc = "no plan" if first is None else f"{first} / {best} ({steps})"
        rows.append(f"| {side}x{side} | {sol.n_parts} | {sol.objective:.0f} | {wall:.1f} | {gc} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def _building_graph(n: int = 486, total: int = 30_500, seed: int = 5) -> nx.Graph:
    """gridgeo's unit graph of one generated community: ``n`` buildings, ``total`` households."""
    from gridgeo.units import build_units, community_graph
    from gridgeo.validate import validate_layers

    rng = np.random.default_rng(seed)
    x0, y0 = 500_000.0, 3_990_000.0
    com = gpd.GeoDataFrame({"community_code": ["370203026002"], "name": ["南山社区居委会"]},
                           geometry=[shapely.box(x0, y0, x0 + 2000, y0 + 1600)], crs="EPSG:4549")  # fmt: skip
    pts = rng.uniform([x0 + 20, y0 + 20], [x0 + 1980, y0 + 1580], size=(n, 2))
    hh = rng.integers(20, 110, size=n)
    hh = np.round(hh * total / hh.sum()).astype(int)
    hh[0] += total - hh.sum()
    bld = gpd.GeoDataFrame({"building_id": [f"B{i:04d}" for i in range(n)], "households": hh, "residents": hh * 3},
                           geometry=shapely.buffer(shapely.points(pts), 8, cap_style="square"), crs="EPSG:4549")  # fmt: skip
    district = validate_layers({"communities": com, "buildings": bld})
    return community_graph(build_units(district), "370203026002")


def fixedk(counts: list[int]) -> str:
    from gridgeo.errors import InfeasibleError

    g = _building_graph()
    total = sum(d["households"] for _, d in g.nodes(data=True))
    rows = [f"{len(g)} units, {g.number_of_edges()} edges, {total} households (fewest parts {-(-total // UPPER)}).", "",
            "| k | mean per part | gridgeo (budget 0.5) | wall s | GerryChain recursive_tree_part | wall s |", "|---|---|---|---|---|---|"]  # fmt: skip
    for k in counts:
        t = time.perf_counter()
        try:
            sol = solve_graph(g, "households", LOWER, UPPER, n_parts=k, time_limit=0.5, seed=0)
            assert check_plan(g, sol.assignment, "households", LOWER, UPPER) == []
            mine = f"plan, cut {sol.objective:.0f} m"
        except InfeasibleError as exc:
            mine = "no plan: " + str(exc).split(";")[0][:60]
        tg = time.perf_counter() - t
        t = time.perf_counter()
        first, _best, _ = _gerrychain(g, "households", k, LOWER, UPPER, 0.0)
        tc = time.perf_counter() - t
        rows.append(f"| {k} | {total / k:.0f} | {mine} | {tg:.1f} | {'plan' if first is not None else 'no plan'} | {tc:.1f} |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def communities(budgets: list[float]) -> str:
    from gridgeo.synth import city_towns, community_frame, generate_layers, qingdao_sample
    from gridgeo.units import build_units
    from gridgeo.validate import validate_layers

    rows = ["| communities | budget | grids | total cut (m) | status counts | wall s |", "|---|---|---|---|---|---|"]
    sets = {"sample (53)": qingdao_sample(seed=0),
            "generated (205)": generate_layers(community_frame(city_towns(), seed=0).iloc[:205], seed=0, scale=1.0)}  # fmt: skip
    for name, layers in sets.items():
        district = validate_layers(layers)
        units = build_units(district)
        for b in budgets:
            t = time.perf_counter()
            res = partition_district(district, units=units, seed=0, time_limit=b)
            wall = time.perf_counter() - t
            counts = ", ".join(f"{k} {v}" for k, v in res.report["status"].value_counts().sort_index().items())
            rows.append(f"| {name} | {b:g} | {len(res.grids)} | {res.report['objective'].sum():.0f} | {counts} | {wall:.1f} |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes only")
    ap.add_argument("--no-spopt", action="store_true", help="skip the spopt comparison")
    ap.add_argument("--city-worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[10_000, 100_000, 300_000],
        help="city sizes (buildings)",
    )
    ap.add_argument("parts", nargs="*", default=["lattices", "sample", "community", "cities"],
                    help="which parts to run (default the first four): lattices sample community cities "
                         "tracts lattices_gc fixedk communities")  # fmt: skip
    ap.add_argument("--budgets", type=float, nargs="*", default=[5.0, 60.0], help="tract budgets (det s)")
    ap.add_argument("--states", nargs="*", default=TRACTS, help="tract graphs to run")
    ap.add_argument("--counts", type=int, nargs="*", default=[63, 64, 62, 61], help="fixedk part counts")
    args = ap.parse_args()
    if args.city_worker is not None:
        print(json.dumps(_city_worker(args.city_worker)))
        return
    with_spopt = not args.no_spopt and bool({"lattices", "sample"} & set(args.parts))
    if with_spopt:
        try:
            import spopt  # noqa: F401
        except ImportError:
            sys.exit("spopt is not installed: pip install spopt, or pass --no-spopt")
    parts = set(args.parts)
    q = " (quick)" if args.quick else ""
    TRACTS[:] = args.states
    shared = "Wall times on a 2-core machine shared with three other sessions: only the cuts, statuses and budget shares are deterministic."
    if "tracts" in parts:
        write_section(f"Optimiser: tract graphs with proven optima, {' and '.join(f'{b:g}' for b in args.budgets)} s" + q,
                      f"`solve_graph(..., n_parts=k, time_limit=budget)` on {', '.join(TRACTS)} (band +-0.5 %), side by side with GerryChain "
                      "(recursive_tree_part, then ReCom with node_repeats 2 for gridgeo's wall time; its band is the mean +- eps inside ours). "
                      f"{shared}\n\n" + tracts(args.budgets, with_gc=True))  # fmt: skip
    if "lattices_gc" in parts:
        write_section("Optimiser: lattices against GerryChain" + q, shared + "\n\n" + lattices_gc([10] if args.quick else [10, 20, 30]))
    if "fixedk" in parts:
        write_section("Optimiser: fixed count near the fewest parts" + q, shared + "\n\n" + fixedk([63] if args.quick else args.counts))
    if "communities" in parts:
        write_section("Optimiser: total cut of the sample and 205 generated communities" + q, shared + "\n\n" + communities([0.5, 0.02]))
    if "lattices" in parts:
        sides = [10] if args.quick else [10, 20, 30]
        write_section("Partition: lattices against spopt" + q,
                      f"gridgeo `partition_graph` (band 300-500, time_limit {LATTICE_TIME_LIMIT}, median of 3 runs) against spopt `MaxPHeuristic` "
                      "(threshold 300, no upper bound), side by side in one run.\n\n" + lattices(sides, with_spopt))  # fmt: skip
    if "sample" in parts:
        write_section("Partition: the sample" + q, sample(with_spopt and not args.quick))
    if "community" in parts:
        write_section(
            "Partition: one community of 5,000 households" + q,
            one_community(3 if args.quick else 7),
        )
    if "cities" in parts:
        sizes = [10_000] if args.quick else args.sizes
        write_section("Partition: generated cities" + q,
                      "2 Dask workers, time_limit 0.05; peak memory of driver + workers.\n\n" + cities(sizes))  # fmt: skip


if __name__ == "__main__":
    main()
