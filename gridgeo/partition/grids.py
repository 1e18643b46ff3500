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
  (``no_households``) when it touches none;
* last, each unit without households or residents moves to the neighbouring community grid
  it makes most compact (Polsby-Popper), counts unchanged, dedicated grids untouched; then a
  grid less compact than ``COMPACT_FLOOR`` trades units with its neighbours where both stay in
  the band and no whole street block is split (the cut alone does not rule out a grid wrapped
  round a dedicated site, whose outline costs nothing), and one still less compact than
  ``COMPACT_MIN`` is re-split with its neighbours by random tree bisections; grids kept or
  repaired from a previous run are never touched.

The grids are the dissolved units, so they tile every community exactly (R5) by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridgeo._geom import snap
from gridgeo.district import FINDING_COLUMNS, District, empty_findings
from gridgeo.errors import InfeasibleError
from gridgeo.i18n import _
from gridgeo.ordering import reading_rank
from gridgeo.partition._cpsat import SolveStatus
from gridgeo.partition.core import _cut_cost, k_range, solve_graph
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
    "dedicated_over_band": "a dedicated site holds more than the upper bound; it is one grid (R4)",
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
    findings : GeoDataFrame
        Located warnings of the partition: every dedicated site (R4) that is no dedicated grid
        of its own, naming the grid it went to (see :func:`site_findings`).
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
    findings: gpd.GeoDataFrame | None = None


def partition_district(  # noqa: PLR0913 - kept for callers of the stage: band, units, budget, seed, communities and prior plan
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
    band = Band(lower, upper, measure, time_limit, seed, prior)
    com = district.communities.set_index("community_code")
    codes = sorted(u["community_code"].unique()) if communities is None else sorted(communities)
    by_com = {c: df for c, df in u.groupby("community_code", sort=True)}
    rows: list[dict] = []
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
        grids, rep = _community(units, CommunityIn(code, name, village, cu), band)
        rows.extend(grids)
        reports.append(rep)
    grids_gdf = _grid_frame(rows, u, district)  # renumbers the rows' grid ids in reading order
    assign_rows = [(uid, g["grid_id"], g["community_code"]) for g in rows for uid in g["units"]]
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
    if "households_estimated" in district.buildings.columns:
        est = district.buildings[["building_id", "households_estimated"]]
        b = b.merge(est, on="building_id", how="left")
    report = pd.DataFrame(reports, columns=REPORT_COLUMNS)
    findings = site_findings(units, assignment, grids_gdf)
    return PartitionResult(
        grids_gdf, assignment, b, report, units, lower, upper, measure, findings=findings
    )


def site_findings(
    units: Units, assignment: pd.DataFrame, grids: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """A located R4 warning for every dedicated site that is no dedicated grid of its own.

    Parameters
    ----------
    units : Units
        With :attr:`~gridgeo.units.Units.sites`.
    assignment : DataFrame
        ``unit_id`` -> ``grid_id``.
    grids : GeoDataFrame
        The grid layer (for the dedicated grid a merged site went to).

    Returns
    -------
    GeoDataFrame
        Findings (:data:`~gridgeo.district.FINDING_COLUMNS`), in the units' metric CRS, one per
        site and community, naming the site and the grid it went to.
    """
    crs = units.units.crs
    if not units.sites:
        return empty_findings(crs)
    grid_of = dict(zip(assignment["unit_id"], assignment["grid_id"], strict=True))
    u = units.units
    ded = grids[grids["grid_class"] == "dedicated"]
    ded_of = {(c, lid): gid for c, lid, gid in zip(ded["community_code"], ded["landuse_id"], ded["grid_id"], strict=True)}
    rows = []
    for site in units.sites:
        if site.reason == "merged":
            went = ded_of.get((site.community_code, site.into), "")
            why = _("lies inside dedicated site {into}: counted in its dedicated grid {grid}").format(into=site.into, grid=went)
        else:
            mine = u[(u["community_code"] == site.community_code) & (u["landuse_id"] == site.landuse_id)]
            went = ", ".join(sorted({grid_of[x] for x in mine["unit_id"] if x in grid_of}))
            why = _("is below the floor for {cls}: inside community grid {grid}").format(
                cls=_(str(site.landuse_class)), grid=went or _("none"))
        pt = gpd.GeoSeries([shapely.point_on_surface(site.geometry)], crs=crs).to_crs(4326).iloc[0]
        rows.append({"rule": "R4", "severity": "warning", "source": "landuse", "feature_id": site.landuse_id,
                     "message": _("{cls} {lid} ({area:,.0f} m², community {code}) has no dedicated grid of its own: it {why}").format(
                         cls=_(str(site.landuse_class)), lid=site.landuse_id, area=site.area_m2, code=site.community_code, why=why),
                     "lon": round(pt.x, 6), "lat": round(pt.y, 6), "geometry": site.geometry})  # fmt: skip
    return gpd.GeoDataFrame(rows, columns=[*FINDING_COLUMNS, "geometry"], geometry="geometry", crs=crs)


class GridStatus(StrEnum):
    """How the grids of a community (or one of its parts) were made, weakest last."""

    KEPT = "kept"
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    REPAIRED = "repaired"
    HEURISTIC = "heuristic"
    FIXED = "fixed"
    EMPTY = "empty"

    @classmethod
    def of(cls, status: SolveStatus) -> GridStatus:
        """The grid status of a solver status (a trivial plan is optimal)."""
        if status in (SolveStatus.OPTIMAL, SolveStatus.TRIVIAL):
            return cls.OPTIMAL
        if status == SolveStatus.FEASIBLE:
            return cls.FEASIBLE
        return cls.HEURISTIC


_STATUS_ORDER = list(GridStatus)


@dataclass(frozen=True)
class Band:
    """The band of a grid and how the solver runs (one community's view of the options)."""

    lower: int
    upper: int
    measure: str
    time_limit: float | None
    seed: int
    prior: dict | None = None


@dataclass(frozen=True)
class CommunityIn:
    """One community to partition: its code, name, village or not, and its units."""

    code: str
    name: str
    village: bool
    units: pd.DataFrame


@dataclass
class Tally:
    """What the phases of one community's partition produce: grids, notes, flags, statuses."""

    grids: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    statuses: list[GridStatus] = field(default_factory=list)
    objective: float = 0.0
    bound: float | None = 0.0
    wall: float = 0.0

    def add(self, kind: str, unit_ids, *, flag: str = "", status: GridStatus = GridStatus.FIXED,
            dclass: str = "", lid: str = "") -> None:  # fmt: skip
        """Record a grid of ``kind`` made of ``unit_ids``."""
        self.grids.append({"kind": kind, "units": sorted(unit_ids), "flag": flag,
                           "solver_status": GridStatus(status).value, "dedicated_class": dclass,
                           "landuse_id": lid})  # fmt: skip

    def flag(self, flag: str, note: str) -> None:
        """Record a flag of the community and the note that explains it."""
        self.flags.append(flag)
        self.notes.append(note)


def _community(units: Units, com: CommunityIn, band: Band) -> tuple[list[dict], dict]:
    """Grids of one community: a list of dicts (with their unit ids) and the report row."""
    tally = Tally()
    _dedicated_grids(units, com, band, tally)
    graph = community_graph(units, com.code)
    weight = {n: int(d[band.measure]) for n, d in graph.nodes(data=True)}
    heavy = sorted(n for n in graph if weight[n] > band.upper)
    for n in heavy:
        tally.add("community", [n], flag="oversize_unit")
        tally.flag("oversize_unit", _("unit {unit} alone holds {n} {measure} > {upper}: its own grid; give per-unit "
                                      "(entrance) counts to split it").format(
                                          unit=n, n=weight[n], measure=_(band.measure), upper=band.upper))  # fmt: skip
    lots = _prior_site_lots(units, graph, band.prior, tally) if band.prior else set()
    rest = graph.subgraph([n for n in graph if n not in set(heavy) and n not in lots])
    comps = sorted((sorted(c) for c in nx.connected_components(rest)), key=lambda c: c[0])
    empty_parts: list[list[str]] = []
    for part_no, comp in enumerate(comps):
        if sum(weight[n] for n in comp) == 0:
            empty_parts.append(comp)
            continue
        where = (
            _("part {i} of {n} (from unit {unit})").format(i=part_no + 1, n=len(comps), unit=comp[0])
            if len(comps) > 1
            else _("the community")
        )
        _part_grids(rest.subgraph(comp), weight, where, com, band, tally)
    _absorb_empty(units, empty_parts, tally)
    _empty_to_sites(units, graph, com.units, tally)
    _compact_empty(units, graph, com.units, tally)
    _compact_weak(graph, com.units, band, tally)
    _compact_resplit(graph, com.units, band, tally)
    return _number(com, band, tally)


def _dedicated_grids(units: Units, com: CommunityIn, band: Band, tally: Tally) -> None:
    """One dedicated grid per dedicated land-use feature and connected piece of it (R4).

    A dedicated grid holding more than the upper bound is flagged ``dedicated_over_band``.
    """
    cu = com.units
    ded = cu[cu["kind"] == "dedicated"]
    if not len(ded):
        return
    by_id = cu.set_index("unit_id")
    dg = nx.Graph()
    dg.add_nodes_from(ded["unit_id"])
    e = units.edges
    e = e[e["u"].isin(dg.nodes) & e["v"].isin(dg.nodes)]
    lid = dict(zip(ded["unit_id"], ded["landuse_id"], strict=True))
    dg.add_edges_from((a, b) for a, b in zip(e["u"], e["v"], strict=True) if lid[a] == lid[b])
    for comp in sorted((sorted(c) for c in nx.connected_components(dg)), key=lambda c: c[0]):
        first = by_id.loc[comp[0]]
        load = int(by_id.loc[comp, band.measure].sum())
        flag = ""
        if load > band.upper:
            flag = "dedicated_over_band"
            tally.flag(flag, _("dedicated grid of {cls} {lid} holds {n} {measure} > {upper}: a dedicated site is one grid "
                               "whatever it holds (R4); give it more staff or split the site in the land-use layer").format(
                                   cls=_(str(first["landuse_class"])), lid=first["landuse_id"], n=load,
                                   measure=_(band.measure), upper=band.upper))  # fmt: skip
        tally.add("dedicated", comp, flag=flag, dclass=str(first["landuse_class"]),
                  lid=str(first["landuse_id"]))  # fmt: skip


def _part_grids(sub, weight, where: str, com: CommunityIn, band: Band, tally: Tally) -> None:
    """Grids of one connected part of a community with households."""
    comp = sorted(sub.nodes)
    total = sum(weight[n] for n in comp)
    lower, upper = band.lower, band.upper
    if total < lower:
        flag = "village_below_band" if com.village else "below_band"
        tally.add("community", comp, flag=flag)
        why = (_("{where} holds {n} {measure} < {lower}: one grid (a village may, by R2)") if com.village
               else _("{where} holds {n} {measure} < {lower}: one grid; merge it with a neighbour's grid by hand if "
                      "the community allows"))  # fmt: skip
        tally.flag(flag, why.format(where=where, n=total, measure=_(band.measure), lower=lower))
        return
    lo, hi = k_range(total, lower, upper)
    if band.prior and lo <= hi:
        kept = _stable_plan(sub, weight, band.prior, lower, upper, band.measure, band.time_limit, band.seed)
        if kept is not None:
            plan, status, note = kept
            tally.notes.append(_("{where}: {note}").format(where=where, note=note))
            tally.statuses.append(GridStatus(status))
            for members in _parts_of(comp, plan):
                tally.add("community", members, status=GridStatus(status))
            return
    plan, status, flag, used = _solve_part(sub, total, where, band, tally)
    if flag:
        tally.flags.append(flag)
        if used != (lower, upper):
            tally.notes.append(_("{where}: grids made within [{lo}, {hi}] {measure}").format(
                where=where, lo=used[0], hi=used[1], measure=_(band.measure)))
    tally.statuses.append(status)
    for members in _parts_of(comp, plan):
        s = sum(weight[n] for n in members)
        tally.add("community", members, flag=flag if not lower <= s <= upper else "", status=status)


def _parts_of(comp: list, plan: dict) -> list[list]:
    """The members of each part of a plan, parts ordered by their first unit."""
    parts: dict = {}
    for n in comp:
        parts.setdefault(plan[n], []).append(n)
    return [parts[p] for p in sorted(parts, key=lambda p: min(parts[p]))]


def _solve_part(sub, total: int, where: str, band: Band, tally: Tally):
    """Solve a part in the band (blocks first), widening the band when no plan is found.

    Returns ``(plan, status, flag, band used)``.
    """
    lower, upper = band.lower, band.upper
    used = (lower, upper)
    flag = ""
    n_parts = None
    if k_range(total, lower, upper)[0] > k_range(total, lower, upper)[1]:
        used, n_parts, msg = _nearest_legal(total, lower, upper, band.measure)
        flag = "band_widened"
        tally.notes.append(_("{where}: {note}").format(where=where, note=msg))
    for attempt in range(6):
        try:
            sol = _solve_blocks_first(sub, band, used, n_parts)
        except InfeasibleError as exc:
            if attempt == 0:
                tally.notes.append(_("{where}: {note}").format(where=where, note=exc))
            used, n_parts = _widen(total, used, lower, upper, attempt)
            flag = "band_widened"
            continue
        tally.objective += sol.objective
        tally.bound = None if sol.bound is None or tally.bound is None else tally.bound + sol.bound
        tally.wall += sol.wall_s
        tally.notes.extend(sol.notes)
        return sol.assignment, GridStatus.of(sol.status), flag, used
    # One grid is always a connected plan.
    return {n: 0 for n in sub.nodes}, GridStatus.FIXED, "band_widened", used


def _solve_blocks_first(sub, band: Band, used: tuple[int, int], n_parts: int | None):
    """Solve with each street block within the band as one node, else unit by unit.

    A block whose households fit the band is never split (one node); smaller blocks are kept
    whole or combined by the cut cost (an edge inside a block costs ``block_cost`` times one
    along a street). Contracting every block up to the upper bound as well was measured
    worse: on the sample it forced plans near the lower bound (康平路: 7 grids of about 340
    households instead of 6), which a moderate change then pushes out of the band.
    """
    last: InfeasibleError | None = None
    for floor in (used[0], None):
        graph, members = _contract_blocks(sub, band.measure, floor, used[1])
        if floor is not None and not members:
            continue
        try:
            sol = solve_graph(graph, band.measure, used[0], used[1], n_parts=n_parts,
                              time_limit=band.time_limit, seed=band.seed)  # fmt: skip
        except InfeasibleError as exc:
            last = exc
            continue
        if members:
            sol.assignment = {u: sol.assignment[node] for node, us in members.items() for u in us}
        return sol
    raise last if last is not None else InfeasibleError("no plan")


def _contract_blocks(sub, measure: str, floor: int | None, cap: int):
    """The graph with each street block holding ``floor``–``cap`` one node (None: no block).

    Returns the graph and, per merged node, the units it stands for (empty: nothing merged).
    """
    if floor is None:
        return sub, {}
    block = nx.get_node_attributes(sub, "block_id")
    groups: dict[str, list] = {}
    for n in sorted(sub.nodes):
        if block.get(n):
            groups.setdefault(block[n], []).append(n)
    node_of = {n: n for n in sub.nodes}
    members: dict = {}
    for _blk, nodes in sorted(groups.items()):
        for piece in sorted((sorted(c) for c in nx.connected_components(sub.subgraph(nodes))),
                            key=lambda c: c[0]):  # fmt: skip
            load = sum(int(sub.nodes[n][measure]) for n in piece)
            if len(piece) < 2 or not floor <= load <= cap:
                continue
            for n in piece:
                node_of[n] = piece[0]
            members[piece[0]] = piece
    if not members:
        return sub, {}
    g = nx.Graph()
    for n in sorted(sub.nodes):
        head = node_of[n]
        if head not in g:
            g.add_node(head, households=0, residents=0, area_m2=0.0)
        for k in ("households", "residents"):
            g.nodes[head][k] += int(sub.nodes[n][k])
        members.setdefault(head, [head])
    for a, b, d in sub.edges(data=True):
        x, y = node_of[a], node_of[b]
        if x == y:
            continue
        cost = d.get("edge_cost", 1.0) + (g.edges[x, y]["edge_cost"] if g.has_edge(x, y) else 0.0)
        shared = d.get("shared_m", 0.0) + (g.edges[x, y]["shared_m"] if g.has_edge(x, y) else 0.0)
        g.add_edge(x, y, edge_cost=cost, shared_m=shared)
    return g, members


def _absorb_empty(units: Units, empty_parts: list[list[str]], tally: Tally) -> None:
    """Parts without households join the grid they share most boundary with (R3)."""
    for comp in empty_parts:
        target = _best_neighbour(units, comp, tally.grids)
        if target is None:
            tally.add("community", comp, flag="no_households")
            tally.flag("no_households", _("an area without households (from unit {unit}) touches no other grid: its "
                                          "own grid").format(unit=comp[0]))  # fmt: skip
        else:
            grids = tally.grids
            grids[target]["units"] = sorted(grids[target]["units"] + comp)
            tally.notes.append(_("an area without households (from unit {unit}) joins grid of unit {other} (R3)").format(
                unit=comp[0], other=grids[target]["units"][0]))  # fmt: skip


#: A move of empty land must raise the summed Polsby-Popper of the two grids by this much.
COMPACT_GAIN = 1e-3
#: Passes of :func:`_compact_empty` over a community's empty units at most.
COMPACT_PASSES = 4
#: A community grid less compact than this (Polsby-Popper 4 pi A / P²) trades units with its
#: neighbours in :func:`_compact_weak` (the goal of issue 15 is a minimum of 0.2).
COMPACT_FLOOR = 0.25
#: Moves of :func:`_compact_weak` per weak grid at most.
COMPACT_MOVES = 12
#: A grid still less compact than this after the moves is re-split with its neighbours
#: (:func:`_compact_resplit`): the goal of issue 15.
COMPACT_MIN = 0.2
#: Random tree bisections of the re-split region tried by :func:`_compact_resplit`.
RESPLIT_SEEDS = 24


def _pp(a: float, p: float) -> float:
    """Polsby-Popper of a shape of area ``a`` and perimeter ``p``."""
    return 4.0 * math.pi * a / (p * p) if p > 0 else 0.0


class _Shapes:
    """Area and perimeter of each community grid, kept up to date as units move.

    Perimeters come from the units' own perimeters and the shared edge lengths of the unit
    graph (no geometry overlay); dedicated grids are not tracked.
    """

    def __init__(self, graph, cu: pd.DataFrame, grids: list[dict]) -> None:
        self.graph, self.grids = graph, grids
        self.owner = {x: i for i, g in enumerate(grids) if g["kind"] == "community" for x in g["units"]}
        mine = cu[cu["unit_id"].isin(self.owner)]
        self.perim = dict(zip(mine["unit_id"], shapely.length(mine.geometry.values), strict=True))
        self.area = dict(zip(mine["unit_id"], mine["area_m2"].astype(float), strict=True))
        self.g_area, self.g_perim = self.measure(graph, self.owner)

    def measure(self, graph, owner: dict) -> tuple[dict, dict]:
        """Area and perimeter of each part of ``owner`` (unit -> part) over ``graph``'s units."""
        area: dict = {}
        perim: dict = {}
        for x, i in owner.items():
            if x in graph:
                area[i] = area.get(i, 0.0) + self.area[x]
                perim[i] = perim.get(i, 0.0) + self.perim[x]
        for a, b, d in graph.edges(data=True):
            if a in owner and b in owner and owner[a] == owner[b]:
                perim[owner[a]] -= 2.0 * d["shared_m"]
        return area, perim

    def pp(self, i: int) -> float:
        """Polsby-Popper of grid ``i`` now."""
        return _pp(self.g_area[i], self.g_perim[i])

    def shared(self, x) -> dict[int, float]:
        """Boundary length unit ``x`` shares with each community grid."""
        out: dict[int, float] = {}
        for y, d in self.graph.adj[x].items():
            if y in self.owner:
                out[self.owner[y]] = out.get(self.owner[y], 0.0) + d["shared_m"]
        return out

    def after(self, x, dst: int, shared: dict[int, float]) -> tuple[float, float]:
        """Polsby-Popper of ``x``'s grid and of ``dst`` were ``x`` to move to ``dst``."""
        src = self.owner[x]
        p_src = self.g_perim[src] - self.perim[x] + 2.0 * shared.get(src, 0.0)
        p_dst = self.g_perim[dst] + self.perim[x] - 2.0 * shared[dst]
        return _pp(self.g_area[src] - self.area[x], p_src), _pp(self.g_area[dst] + self.area[x], p_dst)

    def leaves_connected(self, x) -> bool:
        """Whether ``x``'s grid stays one connected piece without it."""
        rest = [y for y in self.grids[self.owner[x]]["units"] if y != x]
        return bool(rest) and nx.is_connected(self.graph.subgraph(rest))

    def move(self, x, dst: int, shared: dict[int, float]) -> None:
        """Move unit ``x`` to grid ``dst``."""
        src = self.owner[x]
        self.grids[src]["units"] = [y for y in self.grids[src]["units"] if y != x]
        self.grids[dst]["units"] = sorted([*self.grids[dst]["units"], x])
        self.g_area[src] -= self.area[x]
        self.g_perim[src] += 2.0 * shared.get(src, 0.0) - self.perim[x]
        self.g_area[dst] += self.area[x]
        self.g_perim[dst] += self.perim[x] - 2.0 * shared[dst]
        self.owner[x] = dst

    def cut_change(self, x, dst: int) -> float:
        """How much the cut cost (``edge_cost`` of the edges between grids) changes if ``x`` moves to ``dst``."""
        src, delta = self.owner[x], 0.0
        for y, d in self.graph.adj[x].items():
            if y in self.owner:
                delta += d.get("edge_cost", 0.0) * ((self.owner[y] == src) - (self.owner[y] == dst))
        return delta


def _kept(grid: dict) -> bool:
    """Whether a grid comes from a previous run's plan, kept or locally repaired (R8).

    No compactness move touches it: a re-run changes only what must change.
    """
    return grid["solver_status"] in (GridStatus.KEPT.value, GridStatus.REPAIRED.value)


def _free_grids(graph, band: Band, grids: list[dict]) -> tuple[dict[int, int], set[int]]:
    """What each community grid holds (the band's measure), and the grids a compactness move may touch.

    A grid is free when it is in the band and not from a previous run's plan (:func:`_kept`).
    """
    load = {i: sum(int(graph.nodes[x][band.measure]) for x in g["units"])
            for i, g in enumerate(grids) if g["kind"] == "community"}  # fmt: skip
    return load, {i for i in load if band.lower <= load[i] <= band.upper and not _kept(grids[i])}


def _no_longer_optimal(tally: Tally, changed) -> None:
    """Grids changed after the solve (and their community) are at best ``feasible``."""
    for i in changed:
        if tally.grids[i]["solver_status"] == GridStatus.OPTIMAL.value:
            tally.grids[i]["solver_status"] = GridStatus.FEASIBLE.value
    tally.statuses = [GridStatus.FEASIBLE if s == GridStatus.OPTIMAL else s for s in tally.statuses]


def _blocks_of(graph, owner: dict) -> dict[str, set]:
    """The community-grid units of each street block (block id -> units)."""
    blocks: dict[str, set] = {}
    for x, b in nx.get_node_attributes(graph, "block_id").items():
        if b and x in owner:
            blocks.setdefault(b, set()).add(x)
    return blocks


def _splits_block(graph, owner: dict, blocks: dict, x) -> bool:
    """Whether moving unit ``x`` out of its grid would split a street block lying whole in that grid."""
    mates = blocks.get(graph.nodes[x].get("block_id") or None, ())
    return len(mates) > 1 and all(owner[y] == owner[x] for y in mates)


#: An empty unit joins a dedicated site's grid when that takes at least this much grid boundary (m)
#: off the land away from streets (:func:`_empty_to_sites`).
SITE_STREET_GAIN_M = 1.0


def _prior_site_lots(units: Units, graph, prior: dict, tally: Tally) -> set:
    """On a re-run, land without households the previous plan gave a site's grid goes back to it (R8).

    :func:`_empty_to_sites` leaves grids kept from a previous plan alone, so without this a
    re-run of an unchanged community would hand such a lot to a community grid and repair it.
    A unit goes back when it holds nobody, its previous grid is that of one of the dedicated
    grid's own units, and it touches that grid. Returns the units given back.
    """
    site_of: dict = {}
    for i, g in enumerate(tally.grids):
        if g["kind"] == "dedicated":
            for x in g["units"]:
                if prior.get(x) is not None:
                    site_of.setdefault(prior[x], i)
    wanted = {x: site_of[prior[x]] for x in sorted(graph.nodes)
              if prior.get(x) in site_of and graph.nodes[x]["households"] == 0 and graph.nodes[x]["residents"] == 0}  # fmt: skip
    if not wanted:
        return set()
    e = units.edges
    e = e[e["u"].isin(wanted) | e["v"].isin(wanted)]
    touch = [*zip(e["u"], e["v"], strict=True), *zip(e["v"], e["u"], strict=True)]
    lots: set = set()
    changed = True
    while changed:
        changed = False
        for x, i in wanted.items():
            members = set(tally.grids[i]["units"])
            if x not in lots and any(a == x and b in members for a, b in touch):
                tally.grids[i]["units"] = sorted([*members, x])
                lots.add(x)
                changed = True
    return lots


def _empty_to_sites(units: Units, graph, cu: pd.DataFrame, tally: Tally) -> None:
    """Give land without households between a dedicated site and the streets to the site's grid.

    A school or park drawn some way back from its streets leaves a lot with no building between
    its outline and the street (a forecourt, a car park, an empty block). In the community grid
    that lot puts the boundary between the two grids on the site's fence, away from any street.
    A unit without households or residents that touches a dedicated grid joins it when that takes
    at least :data:`SITE_STREET_GAIN_M` of grid boundary off the land away from streets (edge
    length less its part within ``road_width_m`` of a road or river), its community grid stays
    connected, no street block lying whole in that grid is split, and neither grid falls below
    :data:`COMPACT_FLOOR` Polsby-Popper unless it already was (then it must not get worse). The
    counts of every grid stay as they are.
    """
    grids = tally.grids
    if not any(g["kind"] == "dedicated" for g in grids):
        return
    ids = set(cu["unit_id"])
    e = units.edges
    e = e[e["u"].isin(ids) & e["v"].isin(ids)]
    adj: dict = {}
    for a, b, s, al, c in zip(e["u"], e["v"], e["shared_m"], e["along_m"], e["cost"], strict=True):
        off = max(float(s) - float(al), 0.0)
        adj.setdefault(a, []).append((b, float(s), off, float(c)))
        adj.setdefault(b, []).append((a, float(s), off, float(c)))
    area = dict(zip(cu["unit_id"], cu["area_m2"].astype(float), strict=True))
    perim = dict(zip(cu["unit_id"], shapely.length(cu.geometry.values), strict=True))
    owner = {x: i for i, g in enumerate(grids) for x in g["units"]}

    def shape(i: int, without=None, plus=None) -> float:
        members = {*grids[i]["units"], *([plus] if plus else [])} - {without}
        a = sum(area[x] for x in members)
        p = sum(perim[x] for x in members) - sum(s for x in members for y, s, _o, _c in adj.get(x, ()) if y in members)
        return _pp(a, p)

    empty = [x for x in sorted(graph.nodes) if graph.nodes[x]["households"] == 0 and graph.nodes[x]["residents"] == 0]
    moved: list[int] = []
    for _pass in range(COMPACT_PASSES if empty else 0):
        changed = False
        com_owner = {x: i for x, i in owner.items() if grids[i]["kind"] == "community"}
        blocks = _blocks_of(graph, com_owner)
        for x in empty:
            src = owner.get(x)
            if src is None or grids[src]["kind"] != "community" or _kept(grids[src]) or len(grids[src]["units"]) < 2:
                continue
            sites = sorted({owner[y] for y, *_r in adj.get(x, ()) if y in owner and grids[owner[y]]["kind"] == "dedicated"})
            best, best_gain = None, -SITE_STREET_GAIN_M
            for dst in sites:
                gain = sum(off * ((owner.get(y) != dst) - (owner.get(y) != src)) for y, _s, off, _c in adj[x])
                if gain < best_gain:
                    best, best_gain = dst, gain
            if best is None or _splits_block(graph, com_owner, blocks, x):
                continue
            rest = [y for y in grids[src]["units"] if y != x]
            if not nx.is_connected(graph.subgraph(rest)):
                continue
            if any(shape(i, **kw) < min(shape(i), COMPACT_FLOOR)
                   for i, kw in ((src, {"without": x}), (best, {"plus": x}))):  # fmt: skip
                continue
            tally.objective += sum(c * ((owner.get(y) == src) - (owner.get(y) == best))
                                   for y, _s, _o, c in adj[x] if y in graph)  # fmt: skip
            grids[src]["units"] = rest
            grids[best]["units"] = sorted([*grids[best]["units"], x])
            owner[x] = best
            com_owner.pop(x, None)
            blocks = _blocks_of(graph, com_owner)
            moved.append(src)
            changed = True
        if not changed:
            break
    if moved:
        _no_longer_optimal(tally, set(moved))
        tally.notes.append(_("{n} unit(s) without households between a dedicated site and the streets joined the "
                             "site's grid (its boundary on the streets)").format(n=len(moved)))  # fmt: skip


def _compact_empty(units: Units, graph, cu: pd.DataFrame, tally: Tally) -> None:
    """Give each unit without households or residents to the community grid it makes most compact.

    The counts of every grid stay as they are (the unit holds nobody); a unit moves from its
    community grid to a neighbouring community grid when that raises the sum of the two
    grids' Polsby-Popper (4 pi A / P², perimeters from the shared edge lengths, no geometry
    overlay) and leaves its grid connected. Dedicated grids are never touched.
    """
    shapes = _Shapes(graph, cu, tally.grids)
    empty = [x for x in sorted(graph.nodes) if x in shapes.owner
             and graph.nodes[x]["households"] == 0 and graph.nodes[x]["residents"] == 0]  # fmt: skip
    blocks = _blocks_of(graph, shapes.owner)
    moved = 0
    for _pass in range(COMPACT_PASSES if empty else 0):
        changed = False
        for x in empty:
            src = shapes.owner[x]
            if _splits_block(graph, shapes.owner, blocks, x) or _kept(tally.grids[src]):
                continue
            shared = shapes.shared(x)
            old_src = shapes.pp(src)
            best, best_gain = None, COMPACT_GAIN
            for dst in sorted(shared):
                if dst == src or _kept(tally.grids[dst]):
                    continue
                old = (old_src, shapes.pp(dst))
                new = shapes.after(x, dst, shared)
                if min(new) < min(old) - COMPACT_GAIN:
                    continue  # the less compact of the two grids must not get worse
                gain = sum(new) - sum(old)
                if gain > best_gain:
                    best, best_gain = dst, gain
            if best is None or not shapes.leaves_connected(x):
                continue
            tally.objective += shapes.cut_change(x, best)
            shapes.move(x, best, shared)
            moved += 1
            changed = True
        if not changed:
            break
    if moved:
        tally.notes.append(_("{n} unit(s) without households moved to the neighbouring grid they make most compact").format(n=moved))


def _compact_weak(graph, cu: pd.DataFrame, band: Band, tally: Tally) -> None:
    """Trade units between a grid less compact than :data:`COMPACT_FLOOR` and its neighbours.

    A snake or a grid wrapped round a dedicated site costs the cut objective little (its
    boundary runs along land that is no choice of the solver), so the solver alone does not
    rule it out. Here a unit on the boundary of such a grid moves to a neighbouring community
    grid, or from it into the weak grid, when that raises the smaller Polsby-Popper of the two
    grids; both grids stay in the band and connected, no street block wholly inside one grid
    is split, and grids kept from a previous plan or outside the band are not touched. The
    cut cost the moves add is added to the community's objective, and a community the moves
    changed is at best ``feasible``.
    """
    shapes = _Shapes(graph, cu, tally.grids)
    owner = shapes.owner
    load, free = _free_grids(graph, band, tally.grids)
    blocks = _blocks_of(graph, owner)
    moved = 0
    for weak in sorted(free, key=lambda i: (shapes.pp(i), i)):
        for _move in range(COMPACT_MOVES):
            if shapes.pp(weak) >= COMPACT_FLOOR:
                break
            trade = next((t for t in _ranked_trades(shapes, weak, free, load, band, blocks)
                          if shapes.leaves_connected(t[0])), None)  # fmt: skip
            if trade is None:
                break
            x, src, dst, w = trade
            shared = shapes.shared(x)
            tally.objective += shapes.cut_change(x, dst)
            shapes.move(x, dst, shared)
            load[src] -= w
            load[dst] += w
            _no_longer_optimal(tally, (src, dst))
            moved += 1
    if moved:
        tally.notes.append(_("{n} unit(s) moved between grids to make a grid less compact than {floor} "
                             "(Polsby-Popper) more compact, counts kept in the band").format(n=moved, floor=COMPACT_FLOOR))


def _compact_resplit(graph, cu: pd.DataFrame, band: Band, tally: Tally) -> None:
    """Re-split a grid still less compact than :data:`COMPACT_MIN` together with its neighbours.

    When no single unit can move (the counts are tight), the weak grid and its neighbouring
    community grids in the band are merged and split again into as many grids by
    :data:`RESPLIT_SEEDS` random spanning-tree bisections; the plan whose least compact grid
    is the most compact wins (then the cheapest cut), if it beats the present one. Every
    grid stays in the band and connected, and a street block lying whole in one grid stays
    whole. Kept grids are not touched.
    """
    from gridgeo.partition.heuristic import bisection_plan

    grids = tally.grids
    for _round in range(4):
        shapes = _Shapes(graph, cu, grids)
        _load, free = _free_grids(graph, band, grids)
        weak = sorted((i for i in free if shapes.pp(i) < COMPACT_MIN), key=lambda i: (shapes.pp(i), i))
        done = False
        for w in weak:
            near = {shapes.owner[y] for x in grids[w]["units"] for y in graph.adj[x] if y in shapes.owner}
            region_ids = sorted(i for i in near | {w} if i in free)
            if len(region_ids) < 2:
                continue
            nodes = sorted(x for i in region_ids for x in grids[i]["units"])
            sub = graph.subgraph(nodes)
            weight = {x: int(graph.nodes[x][band.measure]) for x in nodes}
            cost = {frozenset((a, b)): d.get("edge_cost", 1.0) for a, b, d in sub.edges(data=True)}
            whole = _whole_blocks(graph, nodes, shapes.owner)
            now = (min(shapes.pp(i) for i in region_ids), -_cut_cost(sub, shapes.owner, cost))
            best, best_key = None, now
            for k in range(RESPLIT_SEEDS):
                plan = bisection_plan(sub, weight, band.lower, band.upper, n_parts=len(region_ids), cost=cost,
                                      seed=band.seed * RESPLIT_SEEDS + k, max_trees=400)  # fmt: skip
                if plan is None or any(len({plan[x] for x in blk}) > 1 for blk in whole):
                    continue
                area, perim = shapes.measure(sub, plan)
                key = (min(_pp(area[q], perim[q]) for q in area), -_cut_cost(sub, plan, cost))
                if key[0] > best_key[0] + COMPACT_GAIN or (key[0] >= COMPACT_MIN and best_key[0] >= COMPACT_MIN
                                                           and key[1] > best_key[1]):  # fmt: skip
                    best, best_key = plan, key
            if best is None:
                continue
            parts: dict[int, list] = {}
            for x in nodes:
                parts.setdefault(best[x], []).append(x)
            for i, members in zip(region_ids, sorted(parts.values(), key=lambda m: m[0]), strict=True):
                grids[i]["units"] = sorted(members)
            _no_longer_optimal(tally, region_ids)
            tally.objective += now[1] - best_key[1]  # keys hold the cut negated
            tally.notes.append(_("{n} grid(s) re-split to make a grid less compact than {floor} (Polsby-Popper) "
                                 "more compact: {before:.2f} -> {after:.2f}").format(
                                     n=len(region_ids), floor=COMPACT_MIN, before=now[0], after=best_key[0]))  # fmt: skip
            done = True
            break  # the grids changed: measure again
        if not done:
            return


def _whole_blocks(graph, nodes: list, owner: dict) -> list[list]:
    """The street blocks (of more than one unit) lying whole among ``nodes`` and in one grid."""
    among = set(nodes)
    return [sorted(m) for _b, m in sorted(_blocks_of(graph, owner).items())
            if len(m) > 1 and m <= among and len({owner[x] for x in m}) == 1]  # fmt: skip


def _ranked_trades(shapes: _Shapes, weak: int, free: set, load: dict, band: Band, blocks: dict) -> list[tuple]:
    """Legal moves ``(unit, from, to, weight)`` across grid ``weak``'s boundary, best first.

    A move is legal when both grids are free (in the band, not kept) and stay in the band,
    and it does not split a street block lying whole in the grid it leaves; it is a gain when
    it raises the smaller Polsby-Popper of the two grids. Ties: the larger summed
    Polsby-Popper, then the smaller cut, then the unit id.
    """
    graph, owner = shapes.graph, shapes.owner
    moves = set()
    for x in (x for x, i in owner.items() if i == weak):
        for y in graph.adj[x]:
            if y in owner and owner[y] != weak:
                moves.add((x, weak, owner[y]))
                moves.add((y, owner[y], weak))
    ranked = []
    for x, src, dst in moves:
        w = int(graph.nodes[x][band.measure])
        if src not in free or dst not in free or load[src] - w < band.lower or load[dst] + w > band.upper:
            continue
        if _splits_block(graph, owner, blocks, x):
            continue
        old = min(shapes.pp(src), shapes.pp(dst))
        new = shapes.after(x, dst, shapes.shared(x))
        if min(new) - old > COMPACT_GAIN:
            ranked.append(((-(min(new) - old), -sum(new), shapes.cut_change(x, dst), str(x), src, dst), (x, src, dst, w)))
    return [move for _key, move in sorted(ranked)]


#: The letter of a grid id by grid class: ``<community code>-C01``, ``-D01``.
ID_PREFIX = {"community": "C", "dedicated": "D"}


def _number(com: CommunityIn, band: Band, tally: Tally) -> tuple[list[dict], dict]:
    """Number the grids and write the community's report row.

    Community grids first, then dedicated ones, by their first unit; :func:`_grid_frame`
    renumbers them in reading order once their shapes are known.
    """
    grids = tally.grids
    community_grids = sorted((g for g in grids if g["kind"] == "community"), key=lambda g: g["units"][0])
    dedicated_grids = sorted((g for g in grids if g["kind"] == "dedicated"), key=lambda g: g["units"][0])
    for prefix, seq in ((ID_PREFIX["community"], community_grids), (ID_PREFIX["dedicated"], dedicated_grids)):
        for i, g in enumerate(seq, start=1):
            g["grid_id"] = f"{com.code}-{prefix}{i:02d}"
            g["community_code"] = com.code
            g["community_name"] = com.name
            g["grid_class"] = g.pop("kind")
    if tally.statuses:
        status = max(tally.statuses, key=_STATUS_ORDER.index)
    else:
        status = GridStatus.FIXED if grids else GridStatus.EMPTY
    cu = com.units
    total_m = int(cu[band.measure].sum())
    k_min, k_max = k_range(total_m, band.lower, band.upper)
    objective, bound = tally.objective, tally.bound
    rep = {
        "community_code": com.code, "community_name": com.name, "is_village": com.village,
        "households": int(cu["households"].sum()), "residents": int(cu["residents"].sum()),
        "n_units": len(cu), "n_grids": len(community_grids), "n_dedicated": len(dedicated_grids),
        "k_min": k_min, "k_max": k_max, "status": status.value, "objective": round(objective, 2),
        "bound": None if bound is None else round(bound, 2),
        "gap": None if bound is None else (0.0 if objective <= 0 else round(max(0.0, (objective - bound) / objective), 4)),
        "wall_s": round(tally.wall, 3), "flags": ";".join(sorted(set(tally.flags))), "notes": " | ".join(tally.notes),
    }  # fmt: skip
    return community_grids + dedicated_grids, rep


def _stable_plan(sub, weight, prior, lower, upper, measure, time_limit, seed):  # noqa: C901 - keeps previous grids that are still legal, then widens the re-split region step by step
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
            _("{kept} previous grid(s) kept, {n} re-split into {parts}").format(kept=kept, n=len(region), parts=sol.n_parts),
        )
    return None


def _nearest_legal(total: int, lower: int, upper: int, measure: str = "households") -> tuple[tuple[int, int], int, str]:
    """The number of grids closest to the band for a total no number fits, and the band it needs.

    Closest is relative to the bound each choice breaks: 534 households as one grid is 6.8 %
    over 500, as two grids 11 % under 300 each, so one grid (which also keeps whole the street
    blocks a cut would split) is chosen.
    """
    k_over = max(1, total // upper)  # grids average above upper
    k_under = k_over + 1  # grids average below lower
    over = (total / k_over - upper) / upper
    under = (lower - total / k_under) / lower
    if over <= under:
        k = k_over
        band = (lower, math.ceil(total / k) + max(1, (upper - lower) // 10))
    else:
        k = k_under
        band = (max(1, total // k - max(1, (upper - lower) // 10)), upper)
    msg = _("{total} {measure} fit no whole number of grids in [{lower}, {upper}] ({k_over} grid(s) would average "
            "{avg_over:.0f}, {k_under} would average {avg_under:.0f}); {k} grid(s) chosen as the closest legal "
            "alternative").format(total=total, measure=_(measure), lower=lower, upper=upper, k_over=k_over,
                                  avg_over=total / k_over, k_under=k_under, avg_under=total / k_under, k=k)  # fmt: skip
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
        merged = _without_cracks(snap(shapely.union_all(geoms, grid_size=GRID_SIZE), SNAP_M))
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
    if district.crs is not None and not gdf.crs.equals(district.crs):
        gdf = gdf.to_crs(district.crs)
        gdf = gdf.set_geometry(_repaired(gdf.geometry.values), crs=gdf.crs)
    renamed = _reading_numbers(gdf)
    gdf["grid_id"] = gdf["grid_id"].map(renamed)
    for g in rows:
        g["grid_id"] = renamed[g["grid_id"]]
    gdf = gdf.sort_values("grid_id", kind="stable").reset_index(drop=True)
    gdf["households"] = gdf["households"].astype(np.int64)
    return gdf


def _reading_numbers(gdf: gpd.GeoDataFrame) -> dict[str, str]:
    """New grid ids in reading order, the order the codes' serials follow: old id -> new id.

    The grids of a community and class are numbered west → east, north → south
    (:func:`gridgeo.ordering.reading_rank` on the layer as it is written), so that C01 is the
    grid that takes serial 001 at first issue.
    """
    rank = reading_rank(gdf)
    new = gdf["community_code"] + "-" + gdf["grid_class"].map(ID_PREFIX) + rank.map("{:02d}".format)
    return dict(zip(gdf["grid_id"], new, strict=True))


#: Holes of a grid smaller than this (m²) are cracks the overlay of its units left, not land.
CRACK_M2 = 0.01


def _without_cracks(geom):
    """A polygon without the holes smaller than :data:`CRACK_M2` (no unit covers them).

    The units of a community tile it up to hair-thin cracks of a few mm² where floating-point
    overlay left them; inside one grid such a crack would show as a hole that holds no land.
    """
    if geom.geom_type != "Polygon" or not geom.interiors:
        return geom
    keep = [r for r in geom.interiors if shapely.Polygon(r).area >= CRACK_M2]
    if len(keep) == len(geom.interiors):
        return geom
    return shapely.Polygon(geom.exterior, keep)


def _repaired(geoms: np.ndarray) -> np.ndarray:
    """Polygons made valid where reprojection left them invalid, their polygonal part only.

    Reprojection can move a vertex across an edge nanometres away.
    """
    out = np.array(geoms, dtype=object)
    bad = np.flatnonzero(~shapely.is_valid(out))
    for i in bad:
        # A zero-width spike or bow-tie left by reprojection: buffer(0) drops it and keeps one
        # polygon; make_valid would keep the lobe as a second part.
        fixed = shapely.buffer(out[i], 0)
        if fixed.geom_type == "Polygon" and abs(fixed.area - out[i].area) <= 1e-6 * out[i].area:
            out[i] = fixed
            continue
        fixed = shapely.make_valid(out[i])
        parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
        out[i] = shapely.union_all(parts) if parts else out[i]
    return out
