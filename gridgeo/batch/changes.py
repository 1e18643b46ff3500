"""Re-partition what changed, keep what did not (R8: grids and codes follow the community).

A previous run is its grid layer (with codes), the community outlines it was cut from and its
building -> grid table (with counts); all are written by ``gridgeo run`` and ``gridgeo rerun``.
Given new inputs:

1. :func:`detect_changes` compares them per community: buildings built or demolished,
   household counts changed, a boundary moved, a community split, merged or re-coded;
2. :func:`repartition` copies the grids of unchanged communities as they were, and
   re-partitions each changed one with the previous grids as the starting point: every
   previous grid still connected and in the band is kept, only the others are re-split
   together with their neighbours (so few households move);
3. a new grid that is the main successor of a previous grid, and whose main predecessor that
   grid is, keeps its code; the others get new codes, and the codes nobody kept retire with
   lineage (split / merge / boundary change) in the registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridgeo.coding import CodeRegistry, assign_codes
from gridgeo.district import District
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.options import PartitionOptions
from gridgeo.partition import GRID_COLUMNS, PartitionResult, partition_district
from gridgeo.units import build_units

#: Columns of the change report.
CHANGE_COLUMNS = [
    "community_code", "community_name", "status", "recoded_from", "buildings_added", "buildings_removed",
    "counts_changed", "households_before", "households_after", "boundary_moved_m2", "grids_before", "grids_after",
    "grids_kept", "households_moved", "codes_kept", "codes_issued", "codes_retired", "notes",
]  # fmt: skip


@dataclass
class PreviousRun:
    """What a previous run left: its coded grids and its building -> grid table.

    Attributes
    ----------
    grids : GeoDataFrame
        The grid layer with ``grid_code`` (any CRS).
    buildings : DataFrame
        ``building_id``, ``grid_id``, ``households``, ``residents``.
    communities : GeoDataFrame or None
        The validated community polygons the grids were cut from (layer ``communities`` of
        ``grids.gpkg``, see :func:`community_outlines`); None for an output without them,
        whose outlines are then the union of each community's grids.
    units : GeoDataFrame or None
        The previous units layer (``units`` of ``grids.gpkg``), when written.
    assignment, report : DataFrame or None
        The previous ``unit_grid.csv`` and ``partition_report.csv``, when written: a re-run
        carries the rows of unchanged communities over into its own.
    """

    grids: gpd.GeoDataFrame
    buildings: pd.DataFrame
    communities: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    assignment: pd.DataFrame | None = None
    report: pd.DataFrame | None = None


def community_outlines(district: District) -> gpd.GeoDataFrame:
    """The validated community polygons, in the input CRS, to write beside the grids.

    A later re-run compares the new communities with these exactly (an unchanged
    boundary is bit for bit the same polygon) instead of with the union of the grids.

    Parameters
    ----------
    district : District

    Returns
    -------
    GeoDataFrame
        ``community_code``, ``name``, geometry (every one a MultiPolygon: a GeoPackage layer
        holds one type, so mixed ones would be promoted on writing); in code order.
    """
    com = district.communities.sort_values("community_code", kind="stable")
    out = com[["community_code", "name", "geometry"]].to_crs(district.crs).reset_index(drop=True)
    return out.set_geometry(gpd.GeoSeries(_multi(out.geometry.values), crs=out.crs))


def _multi(geoms) -> np.ndarray:
    """Each polygon as a MultiPolygon of its parts (a MultiPolygon stays what it is)."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    if len(parts):
        shapely.multipolygons(parts, indices=idx, out=out)
    return out


@dataclass
class RepartitionResult:
    """The new grids and what changed.

    Attributes
    ----------
    grids : GeoDataFrame
        Every community's grids with ``grid_code``, in the new inputs' CRS; unchanged
        communities' rows exactly as before.
    buildings : DataFrame
        The new building -> grid table.
    changes : DataFrame
        Per community: what changed in the input and in the grids (:data:`CHANGE_COLUMNS`).
    result : PartitionResult or None
        The partition of the changed communities (units, report), None when nothing changed.
    moved_share : float
        Share of the households of changed communities (present before and after) whose
        grid code changed.
    """

    grids: gpd.GeoDataFrame
    buildings: pd.DataFrame
    changes: pd.DataFrame
    result: PartitionResult | None
    moved_share: float


def load_previous(folder: str | Path) -> PreviousRun:
    """Read the previous run written by ``gridgeo run`` in ``folder``.

    Raises
    ------
    InputError
        When ``grids.gpkg`` or ``building_grid.csv`` is missing or lacks columns.
    """
    folder = Path(folder)
    gpath, bpath = folder / "grids.gpkg", folder / "building_grid.csv"
    problems = [
        Problem(str(p), None, _("missing: the previous run's output"))
        for p in (gpath, bpath)
        if not p.exists()
    ]
    if problems:
        raise InputError(problems)
    try:
        grids = pyogrio.read_dataframe(gpath, layer="grids")
    except Exception as exc:  # noqa: BLE001 - any reader failure is an input problem
        raise InputError([Problem(str(gpath), None, _("cannot read layer 'grids': {why}").format(why=exc))]) from None
    b = pd.read_csv(bpath, dtype={"building_id": str, "grid_id": str})
    need = {"grid_id", "grid_code", "community_code", "grid_class"} - set(grids.columns)
    needb = {"building_id", "grid_id", "households"} - set(b.columns)
    problems = [Problem(str(gpath), None, _("column {column!r} is missing").format(column=c)) for c in sorted(need)]
    problems += [Problem(str(bpath), None, _("column {column!r} is missing").format(column=c)) for c in sorted(needb)]
    if problems:
        raise InputError(problems)
    grids["community_code"] = grids["community_code"].astype(str)
    grids["grid_code"] = grids["grid_code"].astype(str)
    return PreviousRun(grids, b, _outlines(gpath, set(grids["community_code"])), _units_layer(gpath),
                       _table(folder / "unit_grid.csv"), _table(folder / "partition_report.csv"))  # fmt: skip


def _units_layer(gpath: Path) -> gpd.GeoDataFrame | None:
    """The previous units layer, or None when missing or unreadable (it is only carried over)."""
    try:
        if "units" not in {n for n, _ in pyogrio.list_layers(gpath)}:
            return None
        units = pyogrio.read_dataframe(gpath, layer="units")
    except Exception:  # noqa: BLE001 - a damaged optional layer is not carried over
        return None
    if "community_code" not in units.columns:
        return None
    units["community_code"] = units["community_code"].astype(str)
    return units


def _table(path: Path) -> pd.DataFrame | None:
    """A previous CSV table with its codes and ids as text, or None when missing or unreadable."""
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype={"community_code": str, "unit_id": str, "grid_id": str},
                           keep_default_na=False, na_values=[""])  # fmt: skip
    except Exception:  # noqa: BLE001 - a damaged optional table is not carried over
        return None


def _outlines(gpath: Path, codes: set[str]) -> gpd.GeoDataFrame | None:
    """The layer ``communities`` of a previous run, or None when it cannot be the run's own.

    Missing (an older output), unreadable, without CRS or codes, or not accounting for every
    grid's community: change detection then uses the union of the grids, which is slower but
    needs nothing more.
    """
    try:
        if "communities" not in {n for n, _ in pyogrio.list_layers(gpath)}:
            return None
        com = pyogrio.read_dataframe(gpath, layer="communities")
    except Exception:  # noqa: BLE001 - a damaged optional layer is not used
        return None
    if com.crs is None or "community_code" not in com.columns:
        return None
    com["community_code"] = com["community_code"].astype(str)
    return com if codes <= set(com["community_code"]) else None


def detect_changes(
    previous: PreviousRun, district: District, *, tolerance_m2: float = 1.0
) -> pd.DataFrame:
    """Compare the new inputs with a previous run, community by community.

    Vectorised over the whole city: buildings are compared with one merge on
    ``(community, building_id)``; boundaries are compared exactly with the outlines the
    previous run wrote (:attr:`PreviousRun.communities`), and only those that differ, or all
    when the previous run has no outlines (then the union of its grids), are measured with
    one array-wise symmetric difference. The cost grows with the size of the inputs, not
    with their square.

    Parameters
    ----------
    previous : PreviousRun
    district : District
        The new, validated inputs.
    tolerance_m2 : float
        A boundary that moved by less than this area (m²) has not moved.

    Returns
    -------
    DataFrame
        :data:`CHANGE_COLUMNS` (the grid columns still empty); ``status`` is ``unchanged``,
        ``changed``, ``new``, ``removed`` or ``recoded``.
    """
    ground = _ground(previous, district)
    recoded = _recoded(ground)
    counts = _building_counts(previous, district, {old: new for new, old in recoded.items()})
    moved_area = _moved_area(ground, recoded)
    rows = []
    for code in sorted(ground.new_codes | ground.old_codes):
        row = dict.fromkeys(CHANGE_COLUMNS, 0)
        row.update(community_code=code, community_name=ground.names.get(code, ""), recoded_from="", notes="")
        if code not in ground.new_codes:
            row.update(_removed_row(code, ground, recoded, counts, tolerance_m2))
        elif code not in ground.old_codes and code not in recoded:
            over = ground.overlapping(ground.new_geom[code], old=True, tolerance_m2=tolerance_m2)
            row.update(status="new", households_after=int(counts.hh_after.get(code, 0)),
                       buildings_added=int(counts.n_after.get(code, 0)),
                       notes=("made from " + ", ".join(over)) if over else "new community")  # fmt: skip
        else:
            row.update(_kept_row(code, recoded, counts, float(moved_area.get(code, 0.0)), tolerance_m2))
        rows.append(row)
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


@dataclass
class _Ground:
    """The communities of both runs (metric CRS) and what is needed to compare them."""

    old_geom: dict[str, object]
    new_geom: dict[str, object]
    names: dict[str, str]
    same_outline: set[str]
    new_list: list[str]
    old_list: list[str]

    def __post_init__(self) -> None:
        self.new_codes, self.old_codes = set(self.new_geom), set(self.old_geom)
        self.new_geoms = np.array([self.new_geom[c] for c in self.new_list], dtype=object)
        self.old_geoms = np.array([self.old_geom[c] for c in self.old_list], dtype=object)
        self.new_tree = shapely.STRtree(self.new_geoms)
        self.old_tree = shapely.STRtree(self.old_geoms)

    def overlapping(self, geom, *, old: bool, tolerance_m2: float) -> list[str]:
        """Codes of the old (or new) communities sharing more than ``tolerance_m2`` with ``geom``."""
        tree, geoms, codes = (
            (self.old_tree, self.old_geoms, self.old_list) if old else (self.new_tree, self.new_geoms, self.new_list)
        )
        hit = tree.query(geom, predicate="intersects")
        return sorted(codes[i] for i in hit if shapely.intersection(geoms[i], geom).area > tolerance_m2)


def _ground(previous: PreviousRun, district: District) -> _Ground:
    """Old and new community polygons; which outlines are the identical polygon as before."""
    work = district.work_crs
    com = district.communities.sort_values("community_code", kind="stable")
    same_outline: set[str] = set()
    if previous.communities is not None:
        # The outlines the previous run wrote: an unchanged boundary is the identical polygon.
        # (only communities that have grids: one a previous batch run failed on is new again)
        stored = previous.communities[
            previous.communities["community_code"].isin(set(previous.grids["community_code"]))
        ].sort_values("community_code", kind="stable")
        old_geom = dict(zip(stored["community_code"], stored.to_crs(work).geometry.values, strict=True))
        new_in = dict(zip(com["community_code"], _multi(com.geometry.to_crs(stored.crs).values), strict=True))
        both_codes = [c for c in stored["community_code"] if c in new_in]
        same = shapely.equals_identical(
            np.array([new_in[c] for c in both_codes], dtype=object),
            _multi(stored.set_index("community_code").geometry.loc[both_codes].values),
        )
        same_outline = {c for c, s in zip(both_codes, same, strict=True) if s}
    else:
        old_g = previous.grids.to_crs(work)
        old_com = old_g[["community_code", "geometry"]].dissolve(by="community_code", sort=True)
        old_geom = dict(zip(old_com.index, old_com.geometry.values, strict=True))
    new_list = com["community_code"].tolist()
    return _Ground(old_geom, dict(zip(new_list, com.geometry.values, strict=True)),
                   dict(zip(com["community_code"], com["name"], strict=True)), same_outline, new_list,
                   sorted(old_geom))  # fmt: skip


def _recoded(ground: _Ground) -> dict[str, str]:
    """New code -> vanished old code on (almost) the same ground: the community was re-coded."""
    recoded: dict[str, str] = {}
    vanished = ground.old_codes - ground.new_codes
    if not vanished:
        return recoded
    for code in ground.new_list:
        if code in ground.old_codes:
            continue
        geom = ground.new_geom[code]
        for i in np.sort(ground.old_tree.query(geom, predicate="intersects")):
            og = ground.old_geoms[i]
            if ground.old_list[i] in vanished and (
                shapely.intersection(og, geom).area > 0.95 * max(og.area, geom.area)
            ):
                recoded[code] = ground.old_list[i]
                break
    return recoded


@dataclass
class _Counts:
    """Per community (new code): buildings added, removed, re-counted; households before and after."""

    added: dict
    removed: dict
    counts: dict
    hh_before: dict
    hh_after: dict
    n_after: dict


def _building_counts(previous: PreviousRun, district: District, back: dict[str, str]) -> _Counts:
    """Buildings compared with one outer merge keyed by the (new) community each side belongs to."""
    gcom = previous.grids[["grid_id", "community_code"]].astype({"community_code": str})
    old_b = previous.buildings[["building_id", "households"]].assign(
        key=previous.buildings["grid_id"].map(dict(zip(gcom["grid_id"], gcom["community_code"],
                                                       strict=True)))
    )  # fmt: skip
    if back:
        old_b["key"] = old_b["key"].replace(back)
    new_b = district.buildings[["building_id", "households", "community_code"]].rename(
        columns={"community_code": "key"}
    )
    m = old_b.merge(new_b, on=["key", "building_id"], how="outer", suffixes=("_old", "_new"),
                    indicator=True)  # fmt: skip
    both = m["_merge"] == "both"
    # Per community counts as plain dicts: the caller looks each up thousands of times.
    return _Counts(
        (m["_merge"] == "right_only").groupby(m["key"]).sum().to_dict(),
        (m["_merge"] == "left_only").groupby(m["key"]).sum().to_dict(),
        (both & (m["households_old"] != m["households_new"])).groupby(m["key"]).sum().to_dict(),
        old_b.groupby("key")["households"].sum().to_dict(),
        new_b.groupby("key")["households"].sum().to_dict(),
        new_b.groupby("key").size().to_dict(),
    )


def _moved_area(ground: _Ground, recoded: dict[str, str]) -> dict[str, float]:
    """Area (m²) between the old and new boundary of each community whose outline changed.

    Only communities on both sides whose outline is not the identical polygon are measured, with
    one array-wise symmetric difference.
    """
    pairs = [
        (c, recoded.get(c, c))
        for c in ground.new_list
        if recoded.get(c, c) in ground.old_codes and c not in ground.same_outline
    ]
    if not pairs:
        return {}
    a = np.array([ground.old_geom[o] for _, o in pairs], dtype=object)
    b = np.array([ground.new_geom[c] for c, _ in pairs], dtype=object)
    return dict(zip([c for c, _ in pairs], shapely.area(shapely.symmetric_difference(a, b)), strict=True))


def _removed_row(code: str, ground: _Ground, recoded: dict, counts: _Counts, tolerance_m2: float) -> dict:
    """A vanished community: where its ground went (re-coded, merged into a neighbour, split)."""
    heirs = ground.overlapping(ground.old_geom[code], old=False, tolerance_m2=tolerance_m2)
    to = {old: new for new, old in recoded.items()}.get(code)
    if to:
        notes = _("re-coded to {code}").format(code=to)
    elif len(heirs) == 1:
        notes = _("merged into {code}").format(code=heirs[0])
    else:
        notes = _("split among {codes}").format(codes=", ".join(heirs)) if heirs else _("community gone")
    return {"status": "removed", "households_before": int(counts.hh_before.get(to or code, 0)), "notes": notes}


def _kept_row(code: str, recoded: dict, counts: _Counts, moved: float, tolerance_m2: float) -> dict:
    """A community on both sides: what changed in it, and its status."""
    row = {
        "buildings_added": int(counts.added.get(code, 0)),
        "buildings_removed": int(counts.removed.get(code, 0)),
        "counts_changed": int(counts.counts.get(code, 0)),
        "households_before": int(counts.hh_before.get(code, 0)),
        "households_after": int(counts.hh_after.get(code, 0)),
        "boundary_moved_m2": round(moved, 1) if moved > tolerance_m2 else 0.0,
    }
    what = []
    if code in recoded:
        row["recoded_from"] = recoded[code]
        what.append(_("re-coded from {code}").format(code=recoded[code]))
    if row["buildings_added"] or row["buildings_removed"]:
        what.append(_("{built} building(s) built, {demolished} demolished").format(
            built=row["buildings_added"], demolished=row["buildings_removed"]))  # fmt: skip
    if row["counts_changed"]:
        what.append(_("household counts changed in {n} building(s)").format(n=row["counts_changed"]))
    if row["boundary_moved_m2"]:
        what.append(_("boundary moved ({area:.0f} m²)").format(area=row["boundary_moved_m2"]))
    changed = bool(row["buildings_added"] or row["buildings_removed"] or row["counts_changed"]
                   or row["boundary_moved_m2"])  # fmt: skip
    if code in recoded and not changed:
        row["status"] = "recoded"
    else:
        row["status"] = "changed" if changed or code in recoded else "unchanged"
    row["notes"] = "; ".join(what)
    return row


def repartition(
    previous: PreviousRun,
    district: District,
    *,
    registry: CodeRegistry,
    options: PartitionOptions | None = None,
    date: dt.date | str | None = None,
) -> RepartitionResult:
    """Re-partition the communities that changed since a previous run; keep the others.

    Parameters
    ----------
    previous : PreviousRun
        The previous grids (with codes) and building table.
    district : District
        The new, validated inputs.
    registry : CodeRegistry
        The registry the previous codes were issued from.
    options : PartitionOptions, optional
        Band, time limit, seed and unit options (default 300–500 households).
    date : date or str, optional
        Date of the new and retired codes.

    Returns
    -------
    RepartitionResult
    """
    options = options or PartitionOptions()
    changes = detect_changes(previous, district)
    redo = changes.loc[
        changes["status"].isin(["changed", "new", "recoded"]), "community_code"
    ].tolist()
    keep = changes.loc[changes["status"] == "unchanged", "community_code"].tolist()
    crs = district.crs
    old = previous.grids
    kept_rows = old[old["community_code"].isin(keep)]
    if old.crs is not None and crs is not None and not old.crs.equals(crs):
        kept_rows = kept_rows.to_crs(crs)
    # Codes of re-coded communities move to the new community code first (lineage in the registry).
    recode_map: dict[str, str] = {}
    for code, src in zip(changes["community_code"], changes["recoded_from"], strict=True):
        if src:
            recode_map.update(
                registry.recode_community(src, code, date=date, note="statistical code changed")
            )
    result = None
    new_rows = None
    new_b = previous.buildings.iloc[0:0]
    if redo:
        sub = district.subset(redo)
        units = build_units(sub, options.units)
        prior = _prior(previous, units, district, recode_map)
        result = partition_district(sub, lower=options.lower, upper=options.upper, measure=options.measure,
                                    units=units, time_limit=options.time_limit, seed=options.seed,
                                    prior=prior)  # fmt: skip
        grids = result.grids.copy()
        recoded = {
            s: c
            for c, s in zip(changes["community_code"], changes["recoded_from"], strict=True)
            if s
        }
        grids["grid_code"] = _inherit(previous, result, recode_map, recoded)
        new_rows = assign_codes(grids, registry=registry, date=date)
        _retire_gone(changes, new_rows, registry, date)
        new_b = result.buildings
    parts = [kept_rows[[c for c in kept_rows.columns]]]
    if new_rows is not None:
        parts.append(new_rows[list(new_rows.columns)])
    cols = [*GRID_COLUMNS[:-1], "grid_code", "geometry"]
    grids = gpd.GeoDataFrame(
        pd.concat([p.reindex(columns=cols) for p in parts], ignore_index=True),
        geometry="geometry",
        crs=crs,
    )
    grids = grids.sort_values("grid_id", kind="stable").reset_index(drop=True)
    kept_b = previous.buildings.merge(kept_rows[["grid_id"]], on="grid_id")
    buildings = (
        pd.concat([kept_b, new_b], ignore_index=True)
        .sort_values("building_id", kind="stable")
        .reset_index(drop=True)
    )
    changes, share = _grid_changes(changes, previous, grids, buildings, recode_map)
    return RepartitionResult(grids, buildings, changes, result, share)


def _prior(
    previous: PreviousRun, units, district: District, recode_map: dict[str, str]
) -> dict[str, str]:
    """Unit id -> previous grid code: by its buildings' households, else by area overlap."""
    code_of = dict(zip(previous.grids["grid_id"], previous.grids["grid_code"], strict=True))
    b = previous.buildings.assign(code=previous.buildings["grid_id"].map(code_of))
    b = b.merge(units.building_unit, on="building_id", how="inner")
    prior: dict[str, str] = {}
    if len(b):
        w = b.assign(w=b["households"].fillna(0) + 1e-3)
        best = w.groupby(["unit_id", "code"], sort=True)["w"].sum().reset_index()
        best = best.sort_values(
            ["unit_id", "w", "code"], ascending=[True, False, True]
        ).drop_duplicates("unit_id")
        prior.update(zip(best["unit_id"], best["code"], strict=True))
    rest = units.units[~units.units["unit_id"].isin(prior)]
    if len(rest):
        old = previous.grids.to_crs(units.units.crs)
        tree = shapely.STRtree(old.geometry.values)
        for uid, geom in zip(rest["unit_id"], rest.geometry, strict=True):
            hit = tree.query(geom, predicate="intersects")
            if len(hit):
                areas = shapely.area(shapely.intersection(old.geometry.values[hit], geom))
                k = int(np.argmax(areas))
                if areas[k] > 0.5 * geom.area:
                    prior[uid] = old["grid_code"].iloc[hit[k]]
    return {u: recode_map.get(c, c) for u, c in prior.items()}


def _inherit(
    previous: PreviousRun,
    result: PartitionResult,
    recode_map: dict[str, str],
    recoded: dict[str, str],
) -> list:
    """The code each new grid keeps (mutual main successor / predecessor), None for new codes.

    A code stays in its community (``recoded``: old -> new community code): the ground a
    community gained from a split or merged neighbour gets new codes.
    """
    code_of = dict(zip(previous.grids["grid_id"], previous.grids["grid_code"], strict=True))
    old_com = {
        recode_map.get(c, c): recoded.get(k, k)
        for c, k in zip(
            previous.grids["grid_code"], previous.grids["community_code"].astype(str), strict=True
        )
    }
    new_b = result.buildings[["building_id", "grid_id"]]
    # Only the previous rows of the re-partitioned buildings (not the whole city's).
    old_b = previous.buildings[previous.buildings["building_id"].isin(new_b["building_id"])]
    old_b = old_b.assign(old=_after_recoding(old_b["grid_id"].map(code_of), recode_map))
    m = old_b[["building_id", "old", "households"]].merge(new_b, on="building_id")
    shared = m.groupby(["grid_id", "old"], sort=True)["households"].sum().reset_index()
    grids = result.grids
    # Dedicated grids of the same land-use feature are the same grid.
    out: dict[str, str] = {}
    com_of = dict(zip(grids["grid_id"], grids["community_code"], strict=True))
    if "landuse_id" in previous.grids.columns:
        old_ded = previous.grids[previous.grids["grid_class"] == "dedicated"]
        ded_codes = [recode_map.get(c, c) for c in old_ded["grid_code"]]
        # A land-use feature across a border is one dedicated grid per community.
        by_lu = {
            (old_com[c], lid): c
            for c, lid in zip(ded_codes, old_ded["landuse_id"].astype(str), strict=True)
        }
        for gid, cls, lid in zip(
            grids["grid_id"], grids["grid_class"], grids["landuse_id"].astype(str), strict=True
        ):
            if cls == "dedicated" and (com_of[gid], lid) in by_lu:
                out[gid] = by_lu[(com_of[gid], lid)]
    cls_of = dict(zip(grids["grid_id"], grids["grid_class"], strict=True))
    old_cls = dict(
        zip(
            _after_recoding(previous.grids["grid_code"], recode_map),
            previous.grids["grid_class"],
            strict=True,
        )
    )
    shared = shared[
        [
            cls_of.get(g) == old_cls.get(o) == "community" and com_of.get(g) == old_com.get(o)
            for g, o in zip(shared["grid_id"], shared["old"], strict=True)
        ]
    ]
    if len(shared):
        best_new = shared.sort_values(
            ["grid_id", "households", "old"], ascending=[True, False, True]
        ).drop_duplicates("grid_id")
        best_old = shared.sort_values(
            ["old", "households", "grid_id"], ascending=[True, False, True]
        ).drop_duplicates("old")
        mutual = best_new.merge(best_old, on=["grid_id", "old"])
        taken = set(out.values())
        for gid, code in zip(mutual["grid_id"], mutual["old"], strict=True):
            if gid not in out and code not in taken:
                out[gid] = code
                taken.add(code)
    return [out.get(g) for g in grids["grid_id"]]


def _retire_gone(
    changes: pd.DataFrame,
    new_rows: gpd.GeoDataFrame,
    registry: CodeRegistry,
    date: dt.date | str | None,
) -> None:
    """Retire the active codes of the re-partitioned communities that no grid kept.

    Also the codes of removed communities whose ground other communities took. Each is
    linked to every grid now over it, new or kept (``split`` when several, ``merge`` when
    one): a grid whose houses were demolished and whose ground went to a neighbour that
    kept its code has a successor too. A community that vanished with no successor keeps
    its codes active: a file that merely lacks it must not retire codes for ever.
    """
    removed = changes[(changes["status"] == "removed") & (changes["notes"] != "community gone")]
    scope = set(new_rows["community_code"]) | set(removed["community_code"])
    active = registry.codes(status="active")
    held = set(new_rows["grid_code"])
    gone = sorted(
        c
        for c, k in zip(active["code"], active["community_code"], strict=True)
        if k in scope and c not in held
    )
    if not gone:
        return
    snaps = registry.snapshots(status="active", crs=new_rows.crs, codes=gone)
    new_geoms = new_rows.geometry.values
    tree = shapely.STRtree(new_geoms)
    pairs = []
    for oc, og in zip(snaps["code"], snaps.geometry, strict=True):
        for j in np.sort(tree.query(og, predicate="intersects")):
            ng = new_geoms[j]
            if shapely.intersection(og, ng).area > 0.01 * min(og.area, ng.area):
                pairs.append((oc, new_rows["grid_code"].iloc[j]))
    n_new = pd.Series([o for o, _ in pairs], dtype=object).value_counts().to_dict()
    links = [(o, n, "split" if n_new[o] > 1 else "merge") for o, n in pairs]
    registry.retire_many(gone, links=links, date=date, note="re-partitioned (gridgeo.batch)")


def _after_recoding(codes: pd.Series, recode_map: dict[str, str]) -> pd.Series:
    """Previous grid codes as they read after the re-coding of their communities."""
    return codes.replace(recode_map) if recode_map else codes


def _grid_changes(changes: pd.DataFrame, previous: PreviousRun, grids, buildings, recode_map):
    """Fill the grid columns of the change report; the share of households that moved."""
    code_of_old = dict(zip(previous.grids["grid_id"], previous.grids["grid_code"], strict=True))
    code_of_new = dict(zip(grids["grid_id"], grids["grid_code"], strict=True))
    # Households move only in re-partitioned communities (the others are copied as they were).
    redo = set(changes.loc[changes["status"] != "unchanged", "community_code"])
    nb = buildings.assign(code=buildings["grid_id"].map(code_of_new))
    nb = nb[nb["code"].str[:12].isin(redo)]
    ob = previous.buildings[previous.buildings["building_id"].isin(nb["building_id"])]
    ob = ob.assign(code=_after_recoding(ob["grid_id"].map(code_of_old), recode_map))
    m = ob[["building_id", "code", "households"]].merge(
        nb[["building_id", "code", "households"]], on="building_id", suffixes=("_old", "_new")
    )
    m["community_code"] = m["code_new"].str[:12]
    m["moved"] = np.where(m["code_old"] != m["code_new"], m["households_new"], 0)
    moved = m.groupby("community_code")["moved"].sum()
    old_codes = (
        previous.grids.assign(c=_after_recoding(previous.grids["grid_code"], recode_map))
        .groupby("community_code")["c"]
        .apply(set)
    )
    new_codes = grids.groupby("community_code")["grid_code"].apply(set)
    changes = changes.copy()
    old_codes = old_codes.to_dict()
    new_codes = new_codes.to_dict()
    moved = moved.to_dict()
    cols: dict[str, list[int]] = {k: [] for k in ("grids_before", "grids_after", "codes_kept",
                                                  "codes_issued", "codes_retired", "households_moved")}  # fmt: skip
    for code, src in zip(changes["community_code"], changes["recoded_from"], strict=True):
        before = old_codes.get(src or code, set())
        if src:
            before = {
                recode_map.get(c, c)
                for c in previous.grids.loc[previous.grids["community_code"] == src, "grid_code"]
            }
        after = new_codes.get(code, set())
        cols["grids_before"].append(len(before))
        cols["grids_after"].append(len(after))
        cols["codes_kept"].append(len(before & after))
        cols["codes_issued"].append(len(after - before))
        cols["codes_retired"].append(len(before - after))
        cols["households_moved"].append(int(moved.get(code, 0)))
    for k, v in cols.items():
        changes[k] = v
    changes["grids_kept"] = changes["codes_kept"]
    changed = set(
        changes.loc[changes["status"].isin(["changed", "recoded", "new"]), "community_code"]
    )
    mc = m[m["community_code"].isin(changed)]
    share = (
        float(mc["moved"].sum() / mc["households_new"].sum())
        if len(mc) and mc["households_new"].sum()
        else 0.0
    )
    return changes, share
