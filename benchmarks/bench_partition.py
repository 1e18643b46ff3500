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
   (each size in a fresh process).
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
    from gridgeo.batch import RunOptions, run_partition
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
    res = run_partition(district, options=RunOptions(time_limit=0.05), workers=2)
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
                    help="which parts to run (default all): lattices sample community cities")  # fmt: skip
    args = ap.parse_args()
    if args.city_worker is not None:
        print(json.dumps(_city_worker(args.city_worker)))
        return
    with_spopt = not args.no_spopt
    if with_spopt:
        try:
            import spopt  # noqa: F401
        except ImportError:
            sys.exit("spopt is not installed: pip install spopt, or pass --no-spopt")
    parts = set(args.parts)
    q = " (quick)" if args.quick else ""
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
