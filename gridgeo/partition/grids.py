"""Grids of a whole district: units, one constrained partition per community, dissolved grids.

:func:`partition_district` is what the CLI's main job and the notebooks call. Per community
(R2: a grid never straddles two):

* dedicated units (R4) become dedicated grids, one per land-use feature (its connected pieces);
* a unit whose households alone exceed the band becomes a grid of its own, flagged
  ``oversize_unit`` (split it with unit-level counts to do better);
* each connected part of the rest is partitioned by :func:`~gridgeo.partition.solve_graph`
  into contiguous grids in the band (R1) with the cheapest boundaries;
* what cannot be legal is still covered, flagged and explained with the closest legal
  alternative: a part below the band is one grid (``below_band``; ``village_below_band``
  for a village, which R2 allows); a part no number of grids fits gets the nearest number
  of grids with the band widened just enough (``band_widened``); a part with no households
  joins the neighbouring grid it shares most boundary with (R3), or is its own grid
  (``no_households``) when it touches none.

The grids are the dissolved units, so they tile every community exactly (R5) by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridgeo._geom import snap
from gridgeo.district import District
from gridgeo.errors import InfeasibleError
from gridgeo.partition.core import k_range, solve_graph
from gridgeo.schema import GRID_COLUMNS
from gridgeo.units import GRID_SIZE, SNAP_M, UnitOptions, Units, build_units, community_graph

#: Columns of the per-community solver report.
REPORT_COLUMNS = [
    "community_code", "community_name", "is_village", "households", "residents", "n_units",
    "n_grids", "n_dedicated", "k_min", "k_max", "status", "objective", "bound", "gap", "wall_s", "flags", "notes",
]  # fmt: skip

#: What each flag means, for reports and maps.
FLAGS = {
    "oversize_unit": "one unit alone holds more than the upper bound; it is its own grid",
    "below_band": "the community (or a separate part of it) holds fewer than the lower bound",
    "village_below_band": "a village below the lower bound is one grid (allowed by R2)",
    "band_widened": "no whole number of grids fits the band here; the nearest number was used",
    "no_households": "an area with no households that touches no other grid",
}


@dataclass
class PartitionResult:
    """The grids of a district and how they were made.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid (see :data:`GRID_COLUMNS`), single polygons, in the input CRS.
    assignment : DataFrame
        ``unit_id``, ``grid_id``, ``community_code``, ``households``: which unit is in which grid.
    buildings : DataFrame
        ``building_id``, ``grid_id``, ``households``, ``residents``: which building is in which
        grid, with its counts (counts only, never a person).
    report : DataFrame
        Per community: solver status, objective, gap, number of grids, flags (see
        :data:`REPORT_COLUMNS`).
    units : Units
        The units (metric CRS) the grids were built from.
    lower, upper : int
        The band used.
    measure : str
        ``households`` or ``residents``.
    """

    grids: gpd.GeoDataFrame
    assignment: pd.DataFrame
    buildings: pd.DataFrame
    report: pd.DataFrame
    units: Units
    lower: int
    upper: int
    measure: str
    notes: list[str] = field(default_factory=list)


def partition_district(
    district: District,
    *,
    lower: int = 300,
    upper: int = 500,
    measure: str = "households",
    unit_options: UnitOptions | None = None,
    units: Units | None = None,
    time_limit: float | None = None,
    seed: int = 0,
    communities: list[str] | None = None,
    prior: dict[str, object] | None = None,
) -> PartitionResult:
    """Cut every community of a district into contiguous grids of ``lower``–``upper`` households.

    Parameters
    ----------
    district : District
        A validated district (see :func:`gridgeo.validate.load_district`).
    lower, upper : int
        The band of a grid's ``measure`` (R1: 300–500 households, or about 1000 residents).
    measure : {"households", "residents"}
        What the band counts.
    unit_options : UnitOptions, optional
        Dedicated floors and road discount of the units.
    units : Units, optional
        Units already built with :func:`gridgeo.units.build_units` (saves building them again).
    time_limit : float, optional
        CP-SAT's deterministic time budget per community part (default 0.5).
    seed : int
        Seed of the heuristic and of CP-SAT: the same inputs and seed give the same grids.
    communities : list of str, optional
        Only these community codes (default all).
    prior : dict, optional
        Unit id -> label of the grid the unit was in before (re-partitioning, see
        :func:`gridgeo.batch.repartition`). Where the previous grids are still connected and
        in the band they are kept; grids that are not are re-split together with their
        neighbours only; a community is solved afresh only when that fails.

    Returns
    -------
    PartitionResult

    Raises
    ------
    ValueError
        When the band or the measure is not usable.

    Examples
    --------
    >>> from gridgeo.synth import qingdao_sample
    >>> from gridgeo.validate import validate_layers
    >>> district = validate_layers(qingdao_sample(seed=0))  # doctest: +SKIP
    >>> result = partition_district(district)  # doctest: +SKIP
    >>> result.grids[["grid_id", "households"]].head(2)  # doctest: +SKIP
    """
    if measure not in ("households", "residents"):
        raise ValueError(f"measure must be 'households' or 'residents', not {measure!r}")
    if not 0 < lower <= upper:
        raise ValueError(f"the band [{lower}, {upper}] is empty: need 0 < lower <= upper")
    if units is None:
        target = district if communities is None else district.subset(communities)
        units = build_units(target, unit_options)
    u = units.units
    com = district.communities.set_index("community_code")
    codes = sorted(u["community_code"].unique()) if communities is None else sorted(communities)
    by_com = {c: df for c, df in u.groupby("community_code", sort=True)}
    rows: list[dict] = []
    assign_rows: list[tuple] = []
    reports: list[dict] = []
    for code in codes:
        cu = by_com.get(code)
        if cu is None or cu.empty:
            continue
        name = str(com.at[code, "name"]) if code in com.index else ""
        village = (
            bool(com.at[code, "is_village"])
            if code in com.index and "is_village" in com.columns
            else False
        )
        grids, rep = _community(
            prior, units, cu, code, name, village, lower, upper, measure, time_limit, seed
        )
        for g in grids:
            rows.append(g)
            for uid in g["units"]:
                assign_rows.append((uid, g["grid_id"], code))
        reports.append(rep)
    grids_gdf = _grid_frame(rows, u, district)
    assignment = pd.DataFrame(assign_rows, columns=["unit_id", "grid_id", "community_code"])
    assignment = assignment.merge(u[["unit_id", "households"]], on="unit_id", how="left")
    assignment = assignment.sort_values("unit_id", kind="stable").reset_index(drop=True)
    b = units.building_unit.merge(assignment[["unit_id", "grid_id"]], on="unit_id", how="left")
    counts = district.buildings[["building_id", "households", "residents"]]
    b = b.merge(counts, on="building_id", how="left")
    b = (
        b[["building_id", "grid_id", "households", "residents"]]
        .sort_values("building_id", kind="stable")
        .reset_index(drop=True)
    )
    report = pd.DataFrame(reports, columns=REPORT_COLUMNS)
    return PartitionResult(grids_gdf, assignment, b, report, units, lower, upper, measure)


def _community(prior, units, cu, code, name, village, lower, upper, measure, time_limit, seed):
    """Grids of one community: a list of dicts (with their unit ids) and the report row."""
    by_id = cu.set_index("unit_id")
    grids: list[dict] = []
    notes: list[str] = []
    flags: list[str] = []
    statuses: list[str] = []
    objective = 0.0
    bound: float | None = 0.0
    wall = 0.0

    def add(kind, unit_ids, flag="", status="", dclass="", lid=""):
        grids.append({"kind": kind, "units": sorted(unit_ids), "flag": flag, "solver_status": status,
                      "dedicated_class": dclass, "landuse_id": lid})  # fmt: skip

    # Dedicated grids: one per dedicated land-use feature and connected piece of it.
    ded = cu[cu["kind"] == "dedicated"]
    if len(ded):
        dg = nx.Graph()
        dg.add_nodes_from(ded["unit_id"])
        e = units.edges
        e = e[e["u"].isin(dg.nodes) & e["v"].isin(dg.nodes)]
        lid = dict(zip(ded["unit_id"], ded["landuse_id"], strict=True))
        dg.add_edges_from((a, b) for a, b in zip(e["u"], e["v"], strict=True) if lid[a] == lid[b])
        for comp in sorted((sorted(c) for c in nx.connected_components(dg)), key=lambda c: c[0]):
            first = by_id.loc[comp[0]]
            add("dedicated", comp, dclass=str(first["landuse_class"]), lid=str(first["landuse_id"]))

    graph = community_graph(units, code)
    weight = {n: int(d[measure]) for n, d in graph.nodes(data=True)}
    heavy = sorted(n for n in graph if weight[n] > upper)
    for n in heavy:
        add("community", [n], flag="oversize_unit", status="fixed")
        flags.append("oversize_unit")
        notes.append(f"unit {n} alone holds {weight[n]} {measure} > {upper}: its own grid; "
                     "give per-unit (entrance) counts to split it")  # fmt: skip
    rest = graph.subgraph([n for n in graph if n not in set(heavy)])
    comps = sorted((sorted(c) for c in nx.connected_components(rest)), key=lambda c: c[0])
    empty_parts: list[list[str]] = []
    for part_no, comp in enumerate(comps):
        sub = rest.subgraph(comp)
        total = sum(weight[n] for n in comp)
        if total == 0:
            empty_parts.append(comp)
            continue
        lo, hi = k_range(total, lower, upper)
        where = (
            f"part {part_no + 1} of {len(comps)} (from unit {comp[0]})"
            if len(comps) > 1
            else "the community"
        )
        if total < lower:
            flag = "village_below_band" if village else "below_band"
            add("community", comp, flag=flag, status="fixed")
            flags.append(flag)
            notes.append(f"{where} holds {total} {measure} < {lower}: one grid"
                         + (" (a village may, by R2)" if village else "; merge it with a neighbour's grid by hand if the"
                            " community allows"))  # fmt: skip
            continue
        band = (lower, upper)
        flag = ""
        n_parts = None
        if lo > hi:
            band, n_parts, msg = _nearest_legal(total, lower, upper)
            flag = "band_widened"
            notes.append(f"{where}: {msg}")
        sol = None
        kept = (
            _stable_plan(sub, weight, prior, lower, upper, measure, time_limit, seed)
            if prior and lo <= hi
            else None
        )
        if kept is not None:
            plan, status, note = kept
            notes.append(f"{where}: {note}")
            statuses.append(status)
            parts: dict[int, list] = {}
            for n in comp:
                parts.setdefault(plan[n], []).append(n)
            for p in sorted(parts, key=lambda p: min(parts[p])):
                add("community", parts[p], status=status)
            continue
        for attempt in range(6):
            try:
                sol = solve_graph(
                    sub,
                    measure,
                    band[0],
                    band[1],
                    n_parts=n_parts,
                    time_limit=time_limit,
                    seed=seed,
                )
                break
            except InfeasibleError as exc:
                if attempt == 0:
                    notes.append(f"{where}: {exc}")
                band, n_parts = _widen(total, band, lower, upper, attempt)
                flag = "band_widened"
        if sol is None:  # one grid is always a connected plan
            plan = {n: 0 for n in comp}
            status = "fixed"
            flag = "band_widened"
        else:
            plan = sol.assignment
            status = sol.status.value
            objective += sol.objective
            bound = None if sol.bound is None or bound is None else bound + sol.bound
            wall += sol.wall_s
            notes.extend(sol.notes)
        if flag:
            flags.append(flag)
            if band != (lower, upper):
                notes.append(f"{where}: grids made within [{band[0]}, {band[1]}] {measure}")
        statuses.append(status)
        parts: dict[int, list] = {}
        for n in comp:
            parts.setdefault(plan[n], []).append(n)
        for p in sorted(parts, key=lambda p: min(parts[p])):
            members = parts[p]
            s = sum(weight[n] for n in members)
            add("community", members, flag=flag if not lower <= s <= upper else "", status=status)
    # Parts without households join the grid they share most boundary with (R3).
    for comp in empty_parts:
        target = _best_neighbour(units, comp, grids)
        if target is None:
            add("community", comp, flag="no_households", status="fixed")
            flags.append("no_households")
            notes.append(
                f"an area without households (from unit {comp[0]}) touches no other grid: its own grid"
            )
        else:
            grids[target]["units"] = sorted(grids[target]["units"] + comp)
            notes.append(f"an area without households (from unit {comp[0]}) joins grid of unit "
                         f"{grids[target]['units'][0]} (R3)")  # fmt: skip
    # Number the grids: community then dedicated, each north to south, west to east
    # (unit ids already run in that order within the community).
    community_grids = sorted(
        (g for g in grids if g["kind"] == "community"), key=lambda g: g["units"][0]
    )
    dedicated_grids = sorted(
        (g for g in grids if g["kind"] == "dedicated"), key=lambda g: g["units"][0]
    )
    for prefix, seq in (("C", community_grids), ("D", dedicated_grids)):
        for i, g in enumerate(seq, start=1):
            g["grid_id"] = f"{code}-{prefix}{i:02d}"
            g["community_code"] = code
            g["community_name"] = name
            g["grid_class"] = g.pop("kind")
    order = ["kept", "optimal", "feasible", "repaired", "heuristic", "fixed"]
    status = max(statuses, key=order.index) if statuses else ("fixed" if grids else "empty")
    total_m = int(cu[measure].sum())
    rep = {
        "community_code": code, "community_name": name, "is_village": village,
        "households": int(cu["households"].sum()), "residents": int(cu["residents"].sum()),
        "n_units": len(cu), "n_grids": len(community_grids), "n_dedicated": len(dedicated_grids),
        "k_min": k_range(total_m, lower, upper)[0], "k_max": k_range(total_m, lower, upper)[1],
        "status": status, "objective": round(objective, 2),
        "bound": None if bound is None else round(bound, 2),
        "gap": None if bound is None else (0.0 if objective <= 0 else round(max(0.0, (objective - bound) / objective), 4)),
        "wall_s": round(wall, 3), "flags": ";".join(sorted(set(flags))), "notes": " | ".join(notes),
    }  # fmt: skip
    return community_grids + dedicated_grids, rep


def _stable_plan(sub, weight, prior, lower, upper, measure, time_limit, seed):
    """Keep the previous grids of a component where legal; re-split only around the others.

    Returns ``(plan, status, note)`` or None when the previous plan cannot be repaired locally.
    """
    nodes = sorted(sub.nodes)
    label = {n: prior.get(n) for n in nodes}
    if all(v is None for v in label.values()):
        return None
    # Units new to the area take the label of the neighbour they share most boundary with.
    changed = True
    while changed and any(label[n] is None for n in nodes):
        changed = False
        for n in nodes:
            if label[n] is not None:
                continue
            best: dict = {}
            for m, d in sub.adj[n].items():
                if label[m] is not None:
                    best[label[m]] = best.get(label[m], 0.0) + d.get("shared_m", 1.0)
            if best:
                label[n] = max(sorted(best, key=str), key=lambda k: best[k])
                changed = True
    if any(label[n] is None for n in nodes):
        return None
    # Groups: connected pieces of each label.
    plan: dict = {}
    groups: list[list] = []
    for lab in sorted({label[n] for n in nodes}, key=str):
        members = [n for n in nodes if label[n] == lab]
        for comp in sorted(
            (sorted(c) for c in nx.connected_components(sub.subgraph(members))), key=lambda c: c[0]
        ):
            for n in comp:
                plan[n] = len(groups)
            groups.append(comp)

    def load(g: list) -> int:
        return sum(weight[n] for n in g)

    bad = {i for i, g in enumerate(groups) if not lower <= load(g) <= upper}
    if not bad:
        return plan, "kept", "previous grids kept"

    def attempts():
        # Smallest regions first: the bad grids alone, with one neighbour, then rings.
        yield set(bad)
        nbrs = sorted({plan[m] for i in bad for n in groups[i] for m in sub.adj[n]} - bad)
        for j in nbrs:
            yield set(bad) | {j}
        region = set(bad)
        for _ring in range(3):
            region = region | {plan[m] for i in region for n in groups[i] for m in sub.adj[n]}
            yield set(region)

    seen: set = set()
    for region in attempts():
        key = frozenset(region)
        if key in seen:
            continue
        seen.add(key)
        units = sorted(n for i in region for n in groups[i])
        lo, hi = k_range(sum(weight[n] for n in units), lower, upper)
        if lo > hi:
            continue
        try:
            sol = solve_graph(
                sub.subgraph(units), measure, lower, upper, time_limit=time_limit, seed=seed
            )
        except InfeasibleError:
            continue
        base = len(groups)
        for n in units:
            plan[n] = base + sol.assignment[n]
        first: dict[int, int] = {}
        for n in nodes:
            first.setdefault(plan[n], len(first))
        plan = {n: first[plan[n]] for n in nodes}
        kept = len(groups) - len(region)
        return (
            plan,
            "repaired",
            f"{kept} previous grid(s) kept, {len(region)} re-split into {sol.n_parts}",
        )
    return None


def _nearest_legal(total: int, lower: int, upper: int) -> tuple[tuple[int, int], int, str]:
    """The number of grids closest to the band for a total no number fits, and the band it needs."""
    k_over = max(1, total // upper)  # grids average above upper
    k_under = k_over + 1  # grids average below lower
    over = total / k_over - upper
    under = lower - total / k_under
    if over <= under:
        k = k_over
        band = (lower, math.ceil(total / k) + max(1, (upper - lower) // 10))
    else:
        k = k_under
        band = (max(1, total // k - max(1, (upper - lower) // 10)), upper)
    msg = (
        f"{total} households fit no whole number of grids in [{lower}, {upper}] "
        f"({k_over} grid(s) would average {total / k_over:.0f}, {k_under} would average {total / k_under:.0f}); "
        f"{k} grid(s) chosen as the closest legal alternative"
    )
    return band, k, msg


def _widen(
    total: int, band: tuple[int, int], lower: int, upper: int, attempt: int
) -> tuple[tuple[int, int], None]:
    """A wider band after a failed solve: lumpy units or an awkward shape need room."""
    step = max(1, (upper - lower) // 4) * (attempt + 1)
    return (max(1, band[0] - step), band[1] + step), None


def _best_neighbour(units: Units, comp: list[str], grids: list[dict]) -> int | None:
    """Index of the grid sharing the longest boundary with a group of units, None if none."""
    owner = {uid: i for i, g in enumerate(grids) for uid in g["units"]}
    cset = set(comp)
    e = units.edges
    touch = e[(e["u"].isin(cset) & e["v"].isin(owner)) | (e["v"].isin(cset) & e["u"].isin(owner))]
    if touch.empty:
        return None
    shared: dict[int, float] = {}
    for a, b, s in zip(touch["u"], touch["v"], touch["shared_m"], strict=True):
        other = b if a in cset else a
        shared[owner[other]] = shared.get(owner[other], 0.0) + float(s)
    # Prefer community grids over dedicated ones, then the longest shared boundary.
    return min(shared, key=lambda i: (grids[i]["kind"] != "community", -shared[i], i))


def _grid_frame(rows: list[dict], u: gpd.GeoDataFrame, district: District) -> gpd.GeoDataFrame:
    """Dissolve units into grids and give the layer its contract columns, in the input CRS."""
    crs = u.crs
    if not rows:
        return gpd.GeoDataFrame(columns=GRID_COLUMNS, geometry="geometry", crs=district.crs)
    geom_of = dict(zip(u["unit_id"], u.geometry.values, strict=True))
    counts = {
        c: dict(zip(u["unit_id"], u[c].to_numpy(), strict=True))
        for c in ("households", "residents", "n_buildings")
    }
    out = []
    for g in rows:
        geoms = [geom_of[x] for x in g["units"]]
        merged = snap(shapely.union_all(geoms, grid_size=GRID_SIZE), SNAP_M)
        if merged.geom_type == "MultiPolygon":
            # Touching at a point only: keep every piece (coverage first), flagged.
            parts = sorted(shapely.get_parts(merged), key=lambda p: -p.area)
            merged = shapely.MultiPolygon(parts)
            g["flag"] = (g["flag"] + ";" if g["flag"] else "") + "multipart"
        sums = {c: sum(int(v[x]) for x in g["units"]) for c, v in counts.items()}
        out.append({
            "grid_id": g["grid_id"], "community_code": g["community_code"], "community_name": g["community_name"],
            "grid_class": g["grid_class"], "dedicated_class": g["dedicated_class"], "landuse_id": g["landuse_id"],
            "households": int(sums["households"]), "residents": int(sums["residents"]), "n_units": len(g["units"]),
            "n_buildings": int(sums["n_buildings"]), "area_m2": round(float(merged.area), 1), "flag": g["flag"],
            "solver_status": g["solver_status"], "geometry": merged,
        })  # fmt: skip
    gdf = gpd.GeoDataFrame(out, columns=GRID_COLUMNS, geometry="geometry", crs=crs)
    gdf = gdf.sort_values("grid_id", kind="stable").reset_index(drop=True)
    if district.crs is not None and not gdf.crs.equals(district.crs):
        gdf = gdf.to_crs(district.crs)
    gdf["households"] = gdf["households"].astype(np.int64)
    return gdf
