"""Audit of a hand-drawn grid layer and its proposed rectification (R6 全面审核、集中整改).

:func:`audit_grids` runs the coverage proof with the code checks (R8) on an existing layer,
then proposes a corrected layer:

1. each grid is clipped to the community it mostly lies in (R2); what it held across the
   line returns to that community;
2. inside each community, an area claimed by two grids (overlap) or by none (gap, sliver,
   the cut-off piece of a grid) goes to the neighbouring grid sharing the longest border
   with it; a detached piece of a grid likewise; an area no grid borders becomes a new grid;
3. a community grid above the band is split, and one below the band is merged with its
   neighbour of longest border and re-cut, both by the partitioner
   (:func:`gridgeo.partition.partition_graph`) on the units of those grids;
4. a grid that survives keeps its id and its valid code; a grid that is new, or whose code
   was missing, malformed, repeated or of another community, gets a new code
   (:func:`gridgeo.coding.assign_codes`, with the registry when one is given).

The diff lists every grid that changed and why.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gridgeo.coverage.checks import BAND_REASONS, BLOCKING, polygonal_part, prepare, text_value
from gridgeo.coverage.proof import CoverageReport, check_coverage
from gridgeo.district import District
from gridgeo.errors import CodeError, InfeasibleError
from gridgeo.options import Band
from gridgeo.units import MIN_SHARED_M, Units, build_units, community_graph

#: Columns of the audit diff.
DIFF_COLUMNS = [
    "grid_id", "action", "reasons", "grid_code_before", "grid_code_after", "community_code",
    "area_before_m2", "area_after_m2", "households_before", "households_after",
]  # fmt: skip

#: Areas below this (m²) are numerical dust, not land to hand out.
_DUST_M2 = 1e-4


@dataclass
class AuditResult:
    """What the audit found and what it proposes.

    Attributes
    ----------
    report : CoverageReport
        The findings of the layer as given (R1–R5, R8).
    corrected : GeoDataFrame
        The proposed layer, in the input CRS: the input's columns, with ``grid_id``,
        ``community_code``, ``grid_class``, ``grid_code``, ``households``, ``residents``
        and ``area_m2`` brought up to date.
    diff : GeoDataFrame
        One row per grid that changed (see :data:`DIFF_COLUMNS`): ``action`` (reshaped,
        split, merged, new, removed, recoded), ``reasons`` in a planner's words, before and
        after figures; the geometry is the area that changed hands.
    after : CoverageReport
        The proof run on the corrected layer.
    """

    report: CoverageReport
    corrected: gpd.GeoDataFrame
    diff: gpd.GeoDataFrame
    after: CoverageReport

    @property
    def ok(self) -> bool:
        """True when the layer as given has no blocking finding."""
        return self.report.ok

    def to_markdown(self) -> str:
        """The audit as a readable summary: findings before, the rectification, the proof after."""
        lines = [
            "# Audit of the grid layer (R6)", "",
            f"As given: {'no blocking finding' if self.report.ok else f'{len(self.report.blocking)} blocking finding(s)'}, "
            f"{int((self.report.findings['severity'] != BLOCKING).sum())} warning(s).",
            f"Proposed rectification: {len(self.diff)} grid(s) changed; after it the proof is "
            f"{'PROVED' if self.after.ok else 'still REFUTED'} ({len(self.after.blocking)} blocking).", "",
            "## What changed", "",
        ]  # fmt: skip
        if self.diff.empty:
            lines.append("Nothing.")
        else:
            lines += ["| grid | action | code before | code after | households before → after | why |",
                      "|---|---|---|---|---|---|"]  # fmt: skip
            for r in self.diff.itertuples(index=False):
                hb = "" if pd.isna(r.households_before) else int(r.households_before)
                ha = "" if pd.isna(r.households_after) else int(r.households_after)
                lines.append(f"| {r.grid_id} | {r.action} | {r.grid_code_before} | {r.grid_code_after} | "
                             f"{hb} → {ha} | {r.reasons} |")  # fmt: skip
        before = self.report.to_markdown().replace(
            "# Coverage proof", "## The layer as given: coverage proof", 1
        )
        after = self.after.to_markdown().replace(
            "# Coverage proof", "## The corrected layer: coverage proof", 1
        )
        return "\n".join(lines) + "\n\n" + _demote(before) + "\n" + _demote(after)


def _demote(md: str) -> str:
    return "\n".join(
        ("#" + ln) if ln.startswith("## ") and not ln.startswith("## The ") else ln
        for ln in md.splitlines()
    )


@dataclass
class _Grid:
    """A grid during rectification (metric CRS)."""

    gid: str
    row: int | None  # row of the input layer, None for a new grid
    community: str
    grid_class: str
    geom: object
    code: str
    reasons: list
    action: str = ""
    flag: str = ""


def audit_grids(  # noqa: PLR0913 - the audit's public knobs: band, tolerance, scheme, registry, date, rebalance budget and seed
    grids: gpd.GeoDataFrame,
    district: District,
    *,
    units: Units | None = None,
    band: Band | None = None,
    tolerance_m2: float = 1.0,
    scheme=None,
    registry=None,
    date=None,
    rebalance: bool = True,
    time_limit: float | None = None,
    seed: int = 0,
) -> AuditResult:
    """Audit an existing grid layer and propose its rectification (R6).

    Parameters
    ----------
    grids : GeoDataFrame
        The layer to audit (any CRS): polygons with ``grid_id`` and, usually,
        ``grid_code`` and ``community_code``. Not modified.
    district : District
        The validated district (communities, buildings, land use).
    units : Units, optional
        Units of the district (built per community when needed otherwise).
    band : Band, optional
        The band (R1); default 300–500 households.
    tolerance_m2 : float
        Gaps, overlaps and crossings up to this area (m²) are noise in the findings (they are
        still cleaned up in the corrected layer).
    scheme : CodeScheme or str, optional
        The code scheme (default ``gridgeo-19``).
    registry : CodeRegistry, optional
        Registry to issue new codes from (and record them in); by default a throw-away one,
        so new codes only avoid the codes present in the layer.
    date : str, optional
        Issue date of new codes (YYYY-MM-DD).
    rebalance : bool
        Split oversize and merge undersize grids with the partitioner (default True).
    time_limit : float, optional
        Solver budget per re-cut (deterministic seconds; default 0.5).
    seed : int
        Seed of the partitioner.

    Returns
    -------
    AuditResult

    Raises
    ------
    InputError
        When the layer has no CRS or no geometry.
    """
    band = band or Band.default()
    lower, upper, measure = band.lower, band.upper, band.measure
    report = check_coverage(grids, district, units=units, band=band, tolerance_m2=tolerance_m2, codes=True,
                            scheme=scheme)  # fmt: skip
    layer = prepare(grids, district)
    codes_in = (
        [_code_text(v) for v in layer.grids["grid_code"]]
        if "grid_code" in layer.grids.columns
        else [""] * len(layer.ids)
    )
    before_counts = layer.counts(measure)
    flags = (
        [text_value(v) for v in layer.grids["flag"]]
        if "flag" in layer.grids.columns
        else [""] * len(layer.ids)
    )
    work: list[_Grid] = []
    removed: list[_Grid] = []
    seen_ids: set[str] = set()
    for i, gid in enumerate(layer.ids):
        gid = str(gid)
        if gid in seen_ids:
            gid = f"{gid}-dup{i + 1}"
        seen_ids.add(gid)
        g = _Grid(gid, i, str(layer.home[i]), str(layer.grid_class[i]), layer.geoms[i], codes_in[i], [],
                  flag=";".join(f for f in flags[i].split(";") if f in BAND_REASONS))  # fmt: skip
        if g.geom is None or not g.community:
            g.reasons.append("no polygon" if g.geom is None else "lies outside every community")
            g.action = "removed"
            removed.append(g)
        else:
            work.append(g)
    com = district.communities
    new_no = [0]
    for code, cpoly in zip(com["community_code"], com.geometry.values, strict=True):
        members = [g for g in work if g.community == code]
        _tile_community(code, cpoly, members, work, new_no)
    # Gone grids: wholly trimmed away.
    for g in list(work):
        if g.geom is None or g.geom.is_empty:
            g.action = "removed"
            g.reasons.append("nothing left after trimming")
            work.remove(g)
            removed.append(g)
    if rebalance:
        _rebalance(work, removed, district, units, lower, upper, measure, time_limit, seed)
    corrected, diff = _finish(
        grids,
        layer,
        work,
        removed,
        before_counts,
        codes_in,
        district,
        measure,
        scheme,
        registry,
        date,
    )
    after = check_coverage(corrected, district, units=units, band=band, tolerance_m2=tolerance_m2, codes=True,
                           scheme=scheme)  # fmt: skip
    return AuditResult(report, corrected, diff, after)


def _code_text(v) -> str:
    if isinstance(v, (int, np.integer)):
        return str(v)
    return text_value(v)


def _shared(part, geoms: list) -> np.ndarray:
    """Length (m) of each geometry's boundary running along ``part``."""
    if not geoms:
        return np.zeros(0)
    ring = shapely.buffer(part, 0.01)
    return shapely.length(
        shapely.intersection(shapely.boundary(np.array(geoms, dtype=object)), ring)
    )


def _m2(a: float) -> str:
    return f"{a:,.0f} m²" if a >= 10 else f"{a:.1f} m²"


def _tile_community(  # noqa: C901 - one pass over a community's hand-drawn grids, each defect class a branch; split when the audit next changes
    code: str, cpoly, members: list[_Grid], work: list[_Grid], new_no: list[int]
) -> None:
    """Make the grids of one community tile it: clip, trim overlaps, fill gaps, reattach pieces."""
    claims = []
    for g in members:
        clip = polygonal_part(shapely.intersection(g.geom, cpoly))
        lost = g.geom.area - (clip.area if clip is not None else 0.0)
        if lost > _DUST_M2 * 100:
            g.reasons.append(f"trimmed {_m2(lost)} across the community line (R2)")
        claims.append(clip)
    pool: list[tuple[object, str]] = []  # (piece, what it was)
    cores = []
    for k, g in enumerate(members):
        if claims[k] is None:
            cores.append(None)
            continue
        others = [
            c for j, c in enumerate(claims) if j != k and c is not None and c.intersects(claims[k])
        ]
        core = (
            polygonal_part(shapely.difference(claims[k], shapely.union_all(others)))
            if others
            else claims[k]
        )
        if core is not None and core.area < claims[k].area - _DUST_M2 * 100:
            g.reasons.append(f"overlap of {_m2(claims[k].area - core.area)} with "
                             f"{', '.join(members[j].gid for j, c in enumerate(claims) if c is not None and j != k and c.intersects(claims[k]) and shapely.intersection(c, claims[k]).area > _DUST_M2 * 100)} "
                             "re-divided (R5)")  # fmt: skip
        if core is not None:
            parts = sorted(shapely.get_parts(core), key=lambda p: -p.area)
            core = parts[0]
            for p in parts[1:]:
                if p.area > _DUST_M2:
                    pool.append((p, f"detached piece of {g.gid}"))
                    g.reasons.append(f"detached piece of {_m2(p.area)} given to its neighbour (R5)")
        cores.append(core)
    covered = (
        shapely.union_all([c for c in cores if c is not None])
        if any(c is not None for c in cores)
        else None
    )
    rest = shapely.difference(cpoly, covered) if covered is not None else cpoly
    claimed = (
        shapely.union_all([c for c in claims if c is not None])
        if any(c is not None for c in claims)
        else None
    )
    for p in shapely.get_parts(rest):
        if p.geom_type != "Polygon" or p.area <= _DUST_M2:
            continue
        what = "gap"
        if claimed is not None:
            inside = shapely.intersection(p, claimed).area
            if inside > 0.5 * p.area:
                what = "overlap"
        pool.append((p, what))
    pool.sort(key=lambda t: (-t[0].area, t[0].centroid.x, t[0].centroid.y))
    live = [k for k, c in enumerate(cores) if c is not None]
    pending = pool
    while pending:
        left = []
        for piece, what in pending:
            shared = _shared(piece, [cores[k] for k in live])
            if len(shared) and shared.max() > 0.01:
                k = live[int(np.argmax(shared))]
                cores[k] = shapely.union_all([cores[k], piece])
                if what == "gap" and piece.area > _DUST_M2 * 100:
                    members[k].reasons.append(
                        f"took {_m2(piece.area)} of gap along its border (R5)"
                    )
                elif what == "overlap" and piece.area > _DUST_M2 * 100:
                    members[k].reasons.append(
                        f"kept {_m2(piece.area)} of contested area (longest border)"
                    )
            else:
                left.append((piece, what))
        if len(left) == len(pending):
            break
        pending = left
    if pending:
        # Areas no grid borders: each connected group becomes a new grid.
        for block in shapely.get_parts(shapely.union_all([p for p, _ in pending])):
            if block.geom_type != "Polygon" or block.area <= _DUST_M2 * 100:
                continue
            new_no[0] += 1
            g = _Grid(f"{code}-NEW{new_no[0]:02d}", None, code, "community", block, "",
                      [f"area of {_m2(block.area)} in no grid and bordering none: a new grid (R5)"], "new")  # fmt: skip
            work.append(g)
    for g, core in zip(members, cores, strict=True):
        g.geom = polygonal_part(core) if core is not None else None


def _rebalance(work, removed, district, units, lower, upper, measure, time_limit, seed) -> None:  # noqa: PLR0913 - the community, its units and the band the re-cut needs, passed down from audit_grids
    """Split oversize and merge undersize community grids with the partitioner, per community."""
    from gridgeo.partition import k_range

    unit_cache: dict[str, Units] = {}

    def units_of(code: str) -> Units:
        if units is not None:
            return units
        if code not in unit_cache:
            unit_cache[code] = build_units(district.subset([code]))
        return unit_cache[code]

    b = district.buildings
    bpts = shapely.point_on_surface(b.geometry.values)
    btree = shapely.STRtree(bpts)
    weights = b[measure].to_numpy(dtype=np.int64)

    def count(geom) -> int:
        return (
            int(weights[btree.query(geom, predicate="intersects")].sum()) if geom is not None else 0
        )

    com_total = b.groupby("community_code")[measure].sum().to_dict()
    touched: set[str] = set()
    for code in sorted({g.community for g in work}):
        total = int(com_total.get(code, 0))
        lo, hi = k_range(total, lower, upper)
        if total < lower or lo > hi:
            continue  # one grid, or no whole number of grids, is the legal answer; the proof says why
        for _ in range(len(work)):
            # A grid the partitioner flagged (village below the band, oversize unit...) stays as it is.
            cg = [g for g in work if g.community == code and g.grid_class == "community" and g.gid not in touched
                  and not g.flag]  # fmt: skip
            counts = {g.gid: count(g.geom) for g in cg}
            over = [g for g in cg if counts[g.gid] > upper]
            under = [g for g in cg if counts[g.gid] < lower]
            if not over and not under:
                break
            if over:
                group = [over[0]]
                why = (
                    f"held {counts[over[0].gid]} {measure} > {upper}: split by the partitioner (R1)"
                )
            else:
                g0 = under[0]
                nbrs = [
                    g
                    for g in work
                    if g.community == code and g.grid_class == "community" and g is not g0
                ]
                shared = _shared(g0.geom, [g.geom for g in nbrs])
                if not len(shared) or shared.max() <= MIN_SHARED_M:
                    touched.add(g0.gid)
                    continue
                nb = nbrs[int(np.argmax(shared))]
                group = [g0, nb]
                why = (f"{g0.gid} held {counts[g0.gid]} {measure} < {lower}: merged with {nb.gid} "
                       "(longest border) and re-cut by the partitioner (R1)")  # fmt: skip
            result = _recut(group, units_of(code), code, measure, lower, upper, time_limit, seed)
            touched.update(g.gid for g in group)
            if isinstance(result, str):
                for g in group:
                    g.reasons.append(f"could not be brought into the band: {result}")
                continue
            _replace(group, result, work, removed, why, touched)


def _recut(group, units: Units, code, measure, lower, upper, time_limit, seed):
    """New geometries for the union of ``group``, cut by the partitioner; or why not (str)."""
    from gridgeo.partition import partition_graph

    region = shapely.union_all([g.geom for g in group])
    graph = community_graph(units, code)
    u = units.units.set_index("unit_id")
    nodes = [n for n in graph if n in u.index]
    if not nodes:
        return "no units in this community"
    pts = shapely.point_on_surface(u.loc[nodes].geometry.values)
    inside = [n for n, p in zip(nodes, pts, strict=True) if region.contains(p)]
    if not inside:
        return "no units inside the grid"
    sub = graph.subgraph(inside).copy()
    if not nx.is_connected(sub):
        # Keep the largest connected stretch; the rest follows by border below.
        keep = max(
            nx.connected_components(sub), key=lambda c: sum(sub.nodes[n][measure] for n in c)
        )
        sub = sub.subgraph(keep).copy()
    try:
        plan = partition_graph(sub, measure, lower, upper, time_limit=time_limit, seed=seed)
    except InfeasibleError as exc:
        return str(exc)
    parts: dict[int, list] = {}
    for n, p in plan.items():
        parts.setdefault(p, []).append(n)
    if len(parts) == len(group) and len(group) == 1:
        return "the partitioner keeps it whole"
    geoms = []
    for p in sorted(parts):
        geoms.append(
            polygonal_part(
                shapely.intersection(shapely.union_all(u.loc[parts[p]].geometry.values), region)
            )
        )
    geoms = [g for g in geoms if g is not None]
    rest = shapely.difference(region, shapely.union_all(geoms))
    pending = sorted(
        (p for p in shapely.get_parts(rest) if p.area > _DUST_M2), key=lambda p: -p.area
    )
    for _ in range(3):
        left = []
        for piece in pending:
            shared = _shared(piece, geoms)
            if len(shared) and shared.max() > 0.01:
                k = int(np.argmax(shared))
                geoms[k] = shapely.union_all([geoms[k], piece])
            else:
                left.append(piece)
        pending = left
    for piece in pending:  # isolated: to the largest new grid (rare)
        geoms[0] = shapely.union_all([geoms[0], piece])
    geoms = [polygonal_part(g) for g in geoms]
    for g in geoms:
        if g is None or sum(1 for p in shapely.get_parts(g) if p.area > 1.0) > 1:
            return "the grids touch only at a point: the result would not be one piece"
    return geoms


def _replace(group, geoms, work, removed, why, touched) -> None:
    """Put the new geometries in place of ``group``: survivors keep id and code by largest overlap."""
    olds = list(group)
    pairs = sorted(((shapely.intersection(g.geom, ng).area, i, j) for i, g in enumerate(olds)
                    for j, ng in enumerate(geoms)), reverse=True)  # fmt: skip
    owner: dict[int, int] = {}
    used: set[int] = set()
    for area, i, j in pairs:
        if i in used or j in owner or area <= 0:
            continue
        owner[j] = i
        used.add(i)
    action = "split" if len(geoms) > len(olds) else "merged" if len(geoms) < len(olds) else "re-cut"
    for j, ng in enumerate(geoms):
        if j in owner:
            g = olds[owner[j]]
            g.geom = ng
            g.reasons.append(why)
            g.action = action
        else:
            base = olds[0]
            k = 1
            while any(x.gid == f"{base.gid}-{k}" for x in work):
                k += 1
            g = _Grid(f"{base.gid}-{k}", None, base.community, "community", ng, "", [why], "new")
            work.append(g)
            touched.add(g.gid)
    for i, g in enumerate(olds):
        if i not in used:
            keeper = olds[next(iter(used))] if used else None
            g.action = "removed"
            g.reasons.append(why + (f"; its area went to {keeper.gid}" if keeper else ""))
            work.remove(g)
            removed.append(g)


def _finish(  # noqa: C901, PLR0913 - assembles the corrected layer, its codes and the diff from the audit's phases
    grids, layer, work, removed, before_counts, codes_in, district, measure, scheme, registry, date
):
    """The corrected layer (input CRS) with codes, and the diff."""
    from gridgeo.coding import CodeRegistry, assign_codes, get_scheme, validate_code

    crs_in = grids.crs
    src = grids.reset_index(drop=True)
    rows = []
    for g in work:
        base = src.iloc[g.row].to_dict() if g.row is not None else {}
        base.pop(src.geometry.name, None)
        base.update(grid_id=g.gid, community_code=g.community, grid_class=g.grid_class)
        rows.append({**base, "geometry": g.geom})
    cols = [c for c in src.columns if c != src.geometry.name]
    for c in ("grid_id", "community_code", "grid_class", "grid_code"):
        if c not in cols:
            cols.append(c)
    out = gpd.GeoDataFrame(rows, columns=[*cols, "geometry"], geometry="geometry", crs=layer.crs)
    # Codes: keep a valid code of the right community and class, first holder only.
    sch = get_scheme(scheme if registry is None else registry.scheme)
    kept: list[str] = []
    seen: set[str] = set()
    for g in work:
        code = g.code
        ok = bool(code) and not validate_code(code, scheme=sch) and code not in seen
        if ok:
            ok = sch.division_code(code) == g.community
        if ok and sch.field_for_role("grid_class") is not None:
            ok = code[sch.span(sch.field_for_role("grid_class").name)] == sch.class_digit(
                g.grid_class
            )
        if code and not ok:
            g.reasons.append(
                f"code {code} not kept (invalid, repeated or of another community/class): new code (R8)"
            )
            g.action = g.action or "recoded"
        elif not code and g.row is not None:
            g.reasons.append("had no code: new code (R8)")
            g.action = g.action or "recoded"
        kept.append(code if ok else "")
        if ok:
            seen.add(code)
    out["grid_code"] = kept
    try:
        if registry is not None:
            out = assign_codes(out, registry=registry, date=date)
        else:
            with (
                tempfile.TemporaryDirectory() as tmp,
                CodeRegistry(Path(tmp) / "audit.sqlite", scheme=sch) as reg,
            ):
                out = assign_codes(out, registry=reg, date=date)
    except CodeError as exc:
        for g in work:
            if not g.code:
                g.reasons.append(f"no new code could be issued: {exc}")
    out["grid_code"] = out["grid_code"].astype(str)
    # Counts and areas brought up to date.
    fresh = prepare(out, district)
    out["households"] = fresh.counts("households")
    out["residents"] = fresh.counts("residents")
    out["area_m2"] = np.round(shapely.area(out.geometry.values), 1)
    after_counts = fresh.counts(measure)
    out = out.to_crs(crs_in) if crs_in is not None else out
    # The diff.
    diff_rows = []
    geoms_before = layer.geoms
    for k, g in enumerate(work):
        new_code = out["grid_code"].iloc[k]
        old_code = codes_in[g.row] if g.row is not None else ""
        before = geoms_before[g.row] if g.row is not None else None
        changed = before is None or shapely.symmetric_difference(before, g.geom).area > 0.01
        if g.row is not None and not changed and new_code == old_code and not g.action:
            continue
        if g.row is not None and changed and not g.action:
            g.action = "reshaped"
        if not g.reasons:
            g.reasons.append("boundary cleaned (slivers, invalid ring)")
        moved = g.geom if before is None else shapely.symmetric_difference(before, g.geom)
        diff_rows.append({
            "grid_id": g.gid, "action": g.action or "reshaped", "reasons": "; ".join(dict.fromkeys(g.reasons)),
            "grid_code_before": old_code, "grid_code_after": new_code, "community_code": g.community,
            "area_before_m2": None if before is None else round(before.area, 1), "area_after_m2": round(g.geom.area, 1),
            "households_before": None if g.row is None else int(before_counts[g.row]),
            "households_after": int(after_counts[k]), "geometry": polygonal_part(moved),
        })  # fmt: skip
    for g in removed:
        before = geoms_before[g.row] if g.row is not None else None
        diff_rows.append({
            "grid_id": g.gid, "action": "removed", "reasons": "; ".join(dict.fromkeys(g.reasons)),
            "grid_code_before": codes_in[g.row] if g.row is not None else "", "grid_code_after": "",
            "community_code": g.community, "area_before_m2": None if before is None else round(before.area, 1),
            "area_after_m2": 0.0, "households_before": None if g.row is None else int(before_counts[g.row]),
            "households_after": 0, "geometry": before,
        })  # fmt: skip
    diff = gpd.GeoDataFrame(
        diff_rows, columns=[*DIFF_COLUMNS, "geometry"], geometry="geometry", crs=layer.crs
    )
    diff = diff.to_crs(crs_in) if crs_in is not None else diff
    if measure != "households":
        diff = diff.rename(
            columns={
                "households_before": f"{measure}_before",
                "households_after": f"{measure}_after",
            }
        )
    return out.reset_index(drop=True), diff.sort_values("grid_id", kind="stable").reset_index(
        drop=True
    )
