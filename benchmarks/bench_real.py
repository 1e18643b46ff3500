"""Real-footprint benchmark (issue 15), run by hand; figures go to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_real.py            # measure, print, write RESULTS.md
    .venv/bin/python benchmarks/bench_real.py --print    # measure and print only

On two districts: momepy's real Prague footprints and streets
(:func:`gridgeo.synth.bubenec_layers`, households estimated from footprint x levels) and the
embedded Qingdao sample (:func:`gridgeo.synth.qingdao_sample`), it measures what a street
office looks at on the grid map: footprints cut by grid edges, street blocks split between grids,
grid boundaries away from streets, shapes (Polsby-Popper), dedicated sites (R4) with neither a
grid nor a finding, grids invalid in the output CRS, outline drift from the input communities,
grids outside the band without a flag, and the wall time of units + partition (the figures are
deterministic; the times were taken on a machine shared with other work).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from _results import write_section  # noqa: E402

from gridgeo.partition import partition_district  # noqa: E402
from gridgeo.synth import bubenec_layers, qingdao_sample  # noqa: E402
from gridgeo.units import build_units, street_blocks  # noqa: E402
from gridgeo.validate import validate_layers  # noqa: E402

LOWER, UPPER = 300, 500
#: How near (m) a grid boundary must run to a street or river to count as following it.
NEAR_M = 10.0


def footprint_share(district, result) -> tuple[float, int, int]:
    """Share of all footprint area inside its building's grid; buildings below 95 %; buildings."""
    bld = district.buildings
    polys = bld[shapely.get_type_id(bld.geometry.values) >= 3]
    grids = result.grids.to_crs(bld.crs).set_index("grid_id").geometry
    gid = result.buildings.set_index("building_id")["grid_id"]
    geoms = grids.loc[gid.loc[polys["building_id"]].to_numpy()].values
    inside = shapely.area(shapely.intersection(polys.geometry.values, geoms))
    area = shapely.area(polys.geometry.values)
    return float(inside.sum() / area.sum()), int((inside / area < 0.95).sum()), len(polys)


def blocks_kept(district, result) -> tuple[int, int]:
    """Street blocks holding buildings and at most ``UPPER`` households, and those in one grid."""
    blocks = street_blocks(district)
    bld = district.buildings
    pts = shapely.point_on_surface(bld.geometry.values)
    bi, ki = blocks.sindex.query(pts, predicate="within")
    frame = pd.DataFrame({"building_id": bld["building_id"].to_numpy()[bi], "block": ki})
    frame = frame.merge(result.buildings[["building_id", "grid_id", "households"]], on="building_id")
    per = frame.groupby("block").agg(hh=("households", "sum"), grids=("grid_id", "nunique"))
    small = per[(per["hh"] <= UPPER) & (per["hh"] > 0)]
    return len(small), int((small["grids"] == 1).sum())


def boundary_near_streets(district, result, *, community_only: bool = False) -> float:
    """Share of the length of boundaries between grids of one community near a street or river.

    With ``community_only`` only boundaries between two community grids count (a dedicated
    site's outline is where the site is, not where a street runs).
    """
    grids = result.grids.to_crs(district.communities.crs)
    if community_only:
        grids = grids[grids["grid_class"] == "community"]
    zone = _street_zone(district)
    if zone is None:
        return float("nan")
    total = near = 0.0
    for g, edge in _by_community(district, grids):
        inner = shapely.difference(shapely.union_all(shapely.boundary(g.geometry.values)), edge)
        if community_only:  # only lines two community grids share
            parts = shapely.boundary(g.geometry.values)
            tree = shapely.STRtree(parts)
            li, ri = tree.query(parts, predicate="intersects")
            keep = li < ri
            shared = shapely.intersection(parts[li[keep]], parts[ri[keep]])
            inner = shapely.intersection(inner, shapely.union_all(shared)) if len(shared) else shapely.LineString()
        total += inner.length
        near += shapely.intersection(inner, zone).length
    return near / total if total else float("nan")


def _street_zone(district):
    """The land within ``NEAR_M`` of a street or river (None when there is neither)."""
    lines = [*district.roads.geometry, *district.rivers.geometry]
    return shapely.buffer(shapely.union_all(lines), NEAR_M) if lines else None


def _by_community(district, grids):
    """Per community: its grids, and its outline widened by 1 cm (boundary there is not internal)."""
    com = district.communities.set_index("community_code").geometry
    for code, g in grids.groupby("community_code"):
        yield g, shapely.buffer(com[code].boundary, 0.01)


def polsby_popper(result, crs) -> tuple[float, float]:
    """Mean and minimum 4 pi A / P^2 of the community grids (metric CRS)."""
    g = result.grids[result.grids["grid_class"] == "community"].to_crs(crs)
    pp = 4 * np.pi * g.area / g.length**2
    return float(pp.mean()), float(pp.min())


def thin_grids(result, crs) -> tuple[int, int]:
    """Community grids below Polsby-Popper 0.2, and of them the only community grid of their community.

    A community's only grid is the community less its dedicated sites: its shape is the input's.
    """
    g = result.grids[result.grids["grid_class"] == "community"].to_crs(crs)
    thin = g[4 * np.pi * g.area / g.length**2 < 0.2]
    alone = g["community_code"].value_counts()
    return len(thin), int((thin["community_code"].map(alone) == 1).sum())


def site_outlines_off_streets(district, result) -> float:
    """Share of all boundary between grids of one community that is a dedicated site's outline away from streets.

    Where a site is drawn is the land-use layer's, not the partition's: this much of the
    boundary is off the streets whatever the grids.
    """
    grids = result.grids.to_crs(district.communities.crs)
    zone = _street_zone(district)
    if zone is None:
        return float("nan")
    total = off = 0.0
    for g, edge in _by_community(district, grids):
        inner = shapely.difference(shapely.union_all(shapely.boundary(g.geometry.values)), edge)
        sites = g.geometry.values[(g["grid_class"] == "dedicated").to_numpy()]
        outline = shapely.difference(shapely.union_all(shapely.boundary(sites)), edge) if len(sites) else None
        total += inner.length
        if outline is not None:
            off += shapely.difference(outline, zone).length
    return off / total if total else float("nan")


def dedicated_silent(district, result) -> tuple[int, int]:
    """Dedicated sites with neither a grid of their own nor an R4 finding, and all sites."""
    lu = district.landuse[district.landuse["category"] == "dedicated"]
    with_grid = set(result.grids["landuse_id"].astype(str))
    found = getattr(result, "findings", None)
    told = set() if found is None or found.empty else set(found["feature_id"].astype(str))
    silent = [lid for lid in lu["landuse_id"] if lid not in with_grid and lid not in told]
    return len(silent), len(lu)


def fidelity(layers, district, result) -> tuple[int, float]:
    """Invalid grids in the output CRS; the largest outline drift of a community (m²)."""
    invalid = int((~result.grids.is_valid).sum())
    com = layers["communities"].to_crs(district.communities.crs)
    grids = result.grids.to_crs(district.communities.crs)
    drift = 0.0
    for code, poly in zip(com["community_code"], com.geometry, strict=True):
        mine = shapely.union_all(grids.geometry.values[grids["community_code"] == code])
        drift = max(drift, float(shapely.symmetric_difference(mine, poly).area))
    return invalid, drift


def band_or_flag(result) -> float:
    """Share of community grids in the band or carrying a flag."""
    g = result.grids[result.grids["grid_class"] == "community"]
    ok = g["households"].between(LOWER, UPPER) | (g["flag"].fillna("") != "")
    return float(ok.mean())


def measure(name: str, layers: dict) -> dict:
    """Every measure of one district."""
    district = validate_layers(layers)
    t = time.perf_counter()
    units = build_units(district)
    t_units = time.perf_counter() - t
    t = time.perf_counter()
    result = partition_district(district, units=units, lower=LOWER, upper=UPPER, seed=0)
    t_part = time.perf_counter() - t
    share, below, n_b = footprint_share(district, result)
    n_small, kept = blocks_kept(district, result)
    pp_mean, pp_min = polsby_popper(result, district.communities.crs)
    silent, n_sites = dedicated_silent(district, result)
    invalid, drift = fidelity(layers, district, result)
    return {
        "district": name, "buildings": n_b, "grids": len(result.grids),
        "footprint area in its grid": f"{share:.4%}", "buildings < 95 %": below,
        "blocks <= 500 hh in one grid": f"{kept} of {n_small}",
        "boundary within 10 m of a street": f"{boundary_near_streets(district, result):.0%}",
        "... of it between community grids": f"{boundary_near_streets(district, result, community_only=True):.0%}",
        "... site outlines away from streets (fixed by the land use)": f"{site_outlines_off_streets(district, result):.0%}",
        "Polsby-Popper mean / min": f"{pp_mean:.2f} / {pp_min:.2f}",
        "grids below PP 0.2 (the only grid of their community)": "{} ({})".format(*thin_grids(result, district.communities.crs)),
        "dedicated sites silent": f"{silent} of {n_sites}",
        "invalid grids (output CRS)": invalid, "max outline drift m2": f"{drift:.4f}",
        "grids in band or flagged": f"{band_or_flag(result):.0%}",
        "units s": round(t_units, 2), "partition s": round(t_part, 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args()
    rows = [measure("Bubeneč, Prague (real footprints)", bubenec_layers(seed=0)),
            measure("Qingdao sample (seed 0)", qingdao_sample(seed=0))]  # fmt: skip
    table = pd.DataFrame(rows).set_index("district").T
    text = _markdown(table)
    print(text)
    if not args.print:
        write_section(
            "Real footprints (issue 15)",
            "Units + partition, band 300-500 households, seed 0 (`benchmarks/bench_real.py`). "
            "Figures are deterministic; wall times were taken on a 2-core machine shared with "
            "three other engineers' work.\n\n" + text,
        )


def _markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (pandas needs tabulate for that; this does not)."""
    head = ["measure", *map(str, table.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in table.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row.to_list())]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
