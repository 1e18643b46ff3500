"""Coverage proof benchmark (issue 4), run by hand; figures go to benchmarks/RESULTS.md.

    /tmp/venv/bin/python benchmarks/bench_coverage.py            # Qingdao scale: ~9,000 grids, 300k buildings
    /tmp/venv/bin/python benchmarks/bench_coverage.py --small    # one district, to check it runs

Target: the proof (:func:`gridgeo.coverage.check_coverage`) on a Qingdao-scale layer in at
most 60 s on 2 cores.

The layer is built cheaply instead of partitioning a generated city (which takes far longer
than the proof): the real community frame of Qingdao (:func:`gridgeo.synth.community_frame`,
every street and town), buildings as 16 m squares scattered in each community in proportion
to its area, and grids as the Voronoi cells of seed points in each community, clipped to it
(so they tile it up to float noise, like a partitioner's or a careful planner's layer). The
grids are written in lon/lat (EPSG:4490) and the district is held in its metric CRS, as in a
real run, so the proof's reprojection is part of the time. One defect of each geometric kind
is added (a gap, an overlap, a grid across a community line) so that the pairwise paths run.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from _results import write_section  # noqa: E402

from gridgeo.coverage import check_coverage  # noqa: E402
from gridgeo.district import District  # noqa: E402
from gridgeo.synth import OUTPUT_CRS, WORK_CRS, city_towns, community_frame  # noqa: E402


def build(counties: list[str] | None, n_grids: int, n_buildings: int, seed: int = 0):
    """The district (metric CRS) and the grid layer (EPSG:4490) of the benchmark."""
    rng = np.random.default_rng(seed)
    com = community_frame(city_towns(counties), seed=seed).to_crs(WORK_CRS).reset_index(drop=True)
    com["geometry"] = shapely.set_precision(com.geometry.values, 0.01)
    if "is_village" not in com.columns:
        com["is_village"] = com["community_code"].str[9:12].astype(int) >= 200
    area = com.geometry.area.to_numpy()
    share = area / area.sum()
    k_grids = np.maximum(1, np.round(share * n_grids)).astype(int)
    k_bld = np.maximum(1, np.round(share * n_buildings)).astype(int)
    grid_rows, bld_rows = [], []
    for code, poly, kg, kb in zip(
        com["community_code"], com.geometry.values, k_grids, k_bld, strict=True
    ):
        seeds = _points_in(poly, kg, rng)
        cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=poly)
        for s, cell in enumerate(shapely.get_parts(cells)):
            piece = shapely.intersection(cell, poly)
            parts = [p for p in shapely.get_parts(piece) if p.geom_type == "Polygon"]
            if not parts:
                continue
            grid_rows.append({"grid_id": f"{code}-C{s + 1:03d}", "community_code": code, "grid_class": "community",
                              "geometry": max(parts, key=lambda p: p.area)})  # fmt: skip
            for p in sorted(parts, key=lambda p: -p.area)[
                1:
            ]:  # a cell cut in two by the community shape
                grid_rows.append({"grid_id": f"{code}-C{s + 1:03d}b", "community_code": code,
                                  "grid_class": "community", "geometry": p})  # fmt: skip
        for j, pt in enumerate(
            _points_in(poly.buffer(-10) if poly.buffer(-10).area > 0 else poly, kb, rng)
        ):
            bld_rows.append((f"{code}-B{j + 1:05d}", code, pt))
    ids, codes, pts = zip(*bld_rows, strict=True)
    pts = np.array(pts, dtype=object)
    buildings = gpd.GeoDataFrame(
        {"building_id": ids, "households": rng.integers(4, 21, len(ids)), "residents": rng.integers(10, 150, len(ids)),
         "community_code": codes},
        geometry=shapely.buffer(pts, 8, cap_style="square"), crs=WORK_CRS,
    )  # fmt: skip
    grids = gpd.GeoDataFrame(grid_rows, geometry="geometry", crs=WORK_CRS)
    grids = _defects(grids, com)
    empty_lu = gpd.GeoDataFrame({"landuse_id": pd.Series(dtype=str), "landuse_class": pd.Series(dtype=str),
                                 "category": pd.Series(dtype=str), "name": pd.Series(dtype=str)},
                                geometry=gpd.GeoSeries([], crs=WORK_CRS), crs=WORK_CRS)  # fmt: skip
    lines = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WORK_CRS), crs=WORK_CRS)
    district = District(communities=com[["community_code", "name", "is_village", "geometry"]], buildings=buildings,
                        landuse=empty_lu, roads=lines, rivers=lines, crs=OUTPUT_CRS)  # fmt: skip
    return district, grids.to_crs(OUTPUT_CRS)


def _points_in(poly, n: int, rng) -> list:
    minx, miny, maxx, maxy = poly.bounds
    out: list = []
    shapely.prepare(poly)
    prepared = poly
    while len(out) < n:
        xs = rng.uniform(minx, maxx, 4 * n + 16)
        ys = rng.uniform(miny, maxy, 4 * n + 16)
        cand = shapely.points(xs, ys)
        out.extend(cand[shapely.contains(prepared, cand)][: n - len(out)])
    return out


def _defects(grids: gpd.GeoDataFrame, com: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One gap, one overlap and one grid across a community line."""
    g = grids.copy()
    geoms = g.geometry.values.copy()
    tree = shapely.STRtree(geoms)
    same, cross = None, None
    for i in range(len(g)):
        for j in tree.query(geoms[i], predicate="touches"):
            shared = shapely.intersection(geoms[i], geoms[j]).length
            if shared < 50:
                continue
            if same is None and g["community_code"].iloc[i] == g["community_code"].iloc[j]:
                same = (i, j)
            elif cross is None and g["community_code"].iloc[i] != g["community_code"].iloc[j]:
                cross = (i, j)
        if same and cross:
            break
    i, j = same
    mid = shapely.line_interpolate_point(
        shapely.line_merge(shapely.intersection(geoms[i], geoms[j])), 0.5, normalized=True
    )
    geoms[i] = geoms[i].difference(mid.buffer(10))  # a gap
    geoms[j] = geoms[j].union(mid.buffer(20).intersection(geoms[i]))  # an overlap
    i, j = cross
    mid = shapely.line_interpolate_point(
        shapely.line_merge(shapely.intersection(geoms[i], geoms[j])), 0.5, normalized=True
    )
    take = mid.buffer(20).intersection(geoms[j])
    geoms[i], geoms[j] = (
        geoms[i].union(take),
        geoms[j].difference(take),
    )  # across the community line
    g["geometry"] = geoms
    return g


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--small",
        action="store_true",
        help="one district (市南区), 300 grids, 10k buildings: to check it runs",
    )
    ap.add_argument("--grids", type=int, default=9000)
    ap.add_argument("--buildings", type=int, default=300_000)
    ap.add_argument(
        "--repeat", type=int, default=2, help="timed runs of the proof (the best is reported)"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    counties, n_grids, n_bld = (
        (["370202"], 300, 10_000) if args.small else (None, args.grids, args.buildings)
    )
    t0 = time.perf_counter()
    district, grids = build(counties, n_grids, n_bld)
    t_build = time.perf_counter() - t0
    print(f"layer: {len(grids)} grids, {len(district.communities)} communities, {len(district.buildings)} buildings "
          f"(built in {t_build:.1f} s)", flush=True)  # fmt: skip
    times = []
    report = None
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        report = check_coverage(grids, district)
        times.append(time.perf_counter() - t)
        print(f"proof: {times[-1]:.1f} s, {'PROVED' if report.ok else 'REFUTED'}", flush=True)
    by = report.findings.groupby(["rule", "defect"]).size().to_dict()
    found = {d for (_, d) in by}
    assert {"gap", "overlap", "straddle"} <= found, found
    if args.no_write:
        return
    uname = (
        subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
        or platform.platform()
    )
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    size = "small check (--small)" if args.small else "Qingdao scale"
    body = f"""`uname -a`: `{uname}`; `nproc`: {nproc}.

{size}: {len(grids):,} grids (Voronoi tiles of the real community frame, lon/lat EPSG:4490), {len(district.communities):,}
communities, {len(district.buildings):,} buildings, with one gap, one overlap and one grid across a community line.

| step | wall time |
|---|---:|
| build the layer (not part of the proof) | {t_build:.1f} s |
| `check_coverage` (best of {len(times)}) | **{min(times):.1f} s** |
| `check_coverage` (all runs) | {", ".join(f"{t:.1f}" for t in times)} s |

Target ≤ 60 s on 2 cores: {"met" if min(times) <= 60 else "NOT met"}. Findings: {len(report.findings):,}
({len(report.blocking):,} blocking; the R1 band findings come from the random household counts).
Command: `/tmp/venv/bin/python benchmarks/bench_coverage.py{" --small" if args.small else ""}`.
"""
    write_section("Coverage proof", body)
    print("wrote the 'Coverage proof' section of benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
