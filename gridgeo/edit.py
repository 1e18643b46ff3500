"""Review, adjust and approve a run's grids: the planner's edits as a Python API.

A partition is a proposal. :func:`open_review` loads an output folder of ``gridgeo run`` with
the inputs it was made from into an editable :class:`Review`; every edit is checked at once
against the band (R1) and contiguity (R5) of the grids it touches, and refused with the reason
when it would break a rule that cannot be repaired later (another community, a locked or
dedicated grid, a grid cut in two)::

    from gridgeo import edit

    review = edit.open_review("out/sample", "data/samples/qingdao_sample.toml")
    outcome = review.move(unit_ids=["370203014001-U0007"], to_grid="370203014001-C02")
    outcome.ok, outcome.reasons          # refused or done, and why
    review.lock("370203014001-C01")
    review.rebalance("370203014001")     # re-solve the unlocked grids of the community
    review.undo(); review.redo()
    review.approve(by="王主任")           # write the grids, keep or issue codes, prove coverage

:meth:`Review.approve` writes the edited grid layer atomically into the folder, keeps the codes
of unchanged grids and follows the registry's lineage rules for the others, runs the coverage
proof on the result, and records every approved change (:mod:`gridgeo.coding.changelog`).
The inputs and the caller's frames are never modified.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gridgeo._geom import snap
from gridgeo.coding import CodeRegistry, assign_codes
from gridgeo.coding.changelog import CHANGE_COLUMNS, record_changes
from gridgeo.coverage import CoverageReport, check_coverage
from gridgeo.district import District
from gridgeo.errors import InfeasibleError, InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import by_geometry_type, output_lock, write_layers, write_table, write_text
from gridgeo.options import PartitionOptions
from gridgeo.partition import partition_graph
from gridgeo.schema import GRID_COLUMNS
from gridgeo.units import GRID_SIZE, SNAP_M, Units, build_units

#: The registry file of an output folder (as :data:`gridgeo.pipeline.REGISTRY`).
REGISTRY = "registry.sqlite"
#: Held while an edit is approved: one writer per output folder.


@dataclass(frozen=True)
class GridCheck:
    """How one grid stands after an edit.

    Attributes
    ----------
    grid_id : str
    households, residents : int
    in_band : bool
        The band's measure lies in ``[lower, upper]`` (always True for a dedicated grid).
    connected : bool
        The grid's units form one piece (R5).
    reasons : tuple of str
        Why the grid breaks a rule, in a planner's words (empty when it obeys them).
    """

    grid_id: str
    households: int
    residents: int
    in_band: bool
    connected: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """The answer to an edit: done or refused, why, and how the grids it touched stand.

    Attributes
    ----------
    op : str
        ``move``, ``lock``, ``unlock``, ``rebalance``, ``merge``, ``split``, ``undo``, ``redo``.
    ok : bool
        The edit was made (False: refused, nothing changed).
    reasons : tuple of str
        Why it was refused, or what to know about it (a grid left out of band).
    grids : tuple of GridCheck
        The grids the edit touched, as they are now.
    moved : tuple of str
        The units that changed grid.
    """

    op: str
    ok: bool
    reasons: tuple[str, ...] = ()
    grids: tuple[GridCheck, ...] = ()
    moved: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The outcome as plain JSON-able data."""
        return {"op": self.op, "ok": self.ok, "reasons": list(self.reasons), "moved": list(self.moved),
                "grids": [vars(g) | {"reasons": list(g.reasons)} for g in self.grids]}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One edit as it will be recorded on approval: units from one grid to another."""

    op: str
    community_code: str
    from_grid: str
    to_grid: str
    units: tuple[str, ...]
    households: int


@dataclass(frozen=True)
class _GridMeta:
    community_code: str
    community_name: str
    grid_class: str
    dedicated_class: str
    landuse_id: str
    flag: str
    solver_status: str


@dataclass(frozen=True)
class _State:
    """What undo and redo restore: unit -> grid, the grids' attributes, locks, pending changes."""

    plan: dict[str, str]
    meta: dict[str, _GridMeta]
    locked: frozenset[str]
    changes: tuple[Change, ...]


@dataclass
class Approval:
    """What :meth:`Review.approve` did.

    Attributes
    ----------
    ok : bool
        Written (False: the coverage proof refused the grids, nothing was written).
    grids : GeoDataFrame
        The approved grid layer with its codes (input CRS); the unapproved one when refused.
    coverage : CoverageReport
        The coverage proof of the grids.
    changes : DataFrame
        The recorded changes (:data:`gridgeo.coding.changelog.CHANGE_COLUMNS`).
    approval : int or None
        The approval's number in the registry.
    written : list of pathlib.Path
        The files replaced in the output folder.
    reasons : tuple of str
        The blocking findings when refused.
    """

    ok: bool
    grids: gpd.GeoDataFrame
    coverage: CoverageReport
    changes: pd.DataFrame
    approval: int | None = None
    written: list[Path] = field(default_factory=list)
    reasons: tuple[str, ...] = ()


def open_review(
    out: str | os.PathLike,
    inputs: str | os.PathLike | District,
    *,
    options: PartitionOptions | None = None,
) -> Review:
    """Load an output folder and the inputs it was made from into an editable session.

    Parameters
    ----------
    out : path-like
        An output folder of ``gridgeo run`` (``grids.gpkg``, ``unit_grid.csv``,
        ``building_grid.csv``, ``registry.sqlite``).
    inputs : path-like or District
        The config the run read (or its validated district): the units are rebuilt from it,
        with their adjacency and which building lies in which unit.
    options : PartitionOptions, optional
        The band, unit options, time limit and seed of the run (default 300–500 households).

    Returns
    -------
    Review

    Raises
    ------
    InputError
        When a file is missing, or the inputs do not give the units of this output.
    """
    from gridgeo.pipeline import load_inputs

    folder = Path(out)
    missing = [n for n in ("grids.gpkg", "unit_grid.csv", "building_grid.csv") if not (folder / n).exists()]
    if missing:
        raise InputError([Problem(str(folder / n), None, _("missing: run `gridgeo run` into this folder first"))
                          for n in missing])  # fmt: skip
    options = options or PartitionOptions()
    district = load_inputs(inputs)
    units = build_units(district, options.units)
    grids = pyogrio.read_dataframe(folder / "grids.gpkg", layer="grids")
    assignment = pd.read_csv(folder / "unit_grid.csv", dtype={"unit_id": str, "grid_id": str, "community_code": str})
    built = set(units.units["unit_id"])
    if set(assignment["unit_id"]) != built:
        raise InputError([Problem(str(folder / "unit_grid.csv"), None,
                                  _("its {n} units are not the {m} units the inputs give: pass the config "
                                    "(and unit options) the run used").format(n=len(assignment), m=len(built)))])  # fmt: skip
    return Review(folder, district, units, grids, dict(zip(assignment["unit_id"], assignment["grid_id"], strict=True)),
                  options=options)  # fmt: skip


class Review:
    """An editable copy of a run's grids; see :func:`open_review`.

    Parameters
    ----------
    out : pathlib.Path
        The output folder approvals are written into.
    district : District
        The validated inputs (metric CRS).
    units : Units
        The units of the run (metric CRS), with their adjacency.
    grids : GeoDataFrame
        The run's grid layer (with ``grid_code``). Not modified.
    plan : dict
        Unit id -> grid id of the run.
    options : PartitionOptions
        Band, time limit and seed of rebalances and splits.
    """

    def __init__(
        self,
        out: Path,
        district: District,
        units: Units,
        grids: gpd.GeoDataFrame,
        plan: dict[str, str],
        *,
        options: PartitionOptions,
    ) -> None:
        self.out = Path(out)
        self.district = district
        self.units = units
        self.options = options
        u = units.units
        self._community = dict(zip(u["unit_id"], u["community_code"].astype(str), strict=True))
        self._kind = dict(zip(u["unit_id"], u["kind"], strict=True))
        self._counts = {c: dict(zip(u["unit_id"], u[c].astype(int), strict=True))
                        for c in ("households", "residents", "n_buildings")}  # fmt: skip
        self._geom = dict(zip(u["unit_id"], u.geometry.values, strict=True))
        self._adj: dict[str, set[str]] = {uid: set() for uid in u["unit_id"]}
        self._cost: dict[frozenset, float] = {}
        for a, b, c in zip(units.edges["u"], units.edges["v"], units.edges["cost"], strict=True):
            self._adj[a].add(b)
            self._adj[b].add(a)
            self._cost[frozenset((a, b))] = float(c)
        self._along = {frozenset((a, b)) for a, b, s in zip(units.edges["u"], units.edges["v"],
                                                               units.edges["along_m"], strict=True) if s > 0}  # fmt: skip
        self._unit_of_building = dict(zip(units.building_unit["building_id"].astype(str),
                                          units.building_unit["unit_id"], strict=True))  # fmt: skip
        self._shape_cache: dict[tuple[str, ...], shapely.Geometry] = {}
        self._reset_baseline(grids, dict(plan))

    # -- the baseline: what the folder holds -----------------------------------------------
    def _reset_baseline(self, grids: gpd.GeoDataFrame, plan: dict[str, str]) -> None:
        meta = {}
        for r in grids.itertuples(index=False):
            meta[str(r.grid_id)] = _GridMeta(str(r.community_code), str(r.community_name), str(r.grid_class),
                                             _s(r.dedicated_class), _s(r.landuse_id), _s(r.flag), _s(r.solver_status))  # fmt: skip
        self._codes = dict(zip(grids["grid_id"].astype(str), grids["grid_code"].astype(str), strict=True))
        self._base_members = _members(plan)
        self._state = _State(plan, meta, frozenset(), ())
        self._undo: list[_State] = []
        self._redo: list[_State] = []

    # -- reading ------------------------------------------------------------------------------
    @property
    def band(self):
        """The band (R1) edits are checked against."""
        return self.options.band

    @property
    def locked(self) -> frozenset[str]:
        """The locked grid ids."""
        return self._state.locked

    @property
    def changes(self) -> tuple[Change, ...]:
        """The edits made since the last approval (what an approval records)."""
        return self._state.changes

    @property
    def can_undo(self) -> bool:
        """An edit can be undone."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """An undone edit can be redone."""
        return bool(self._redo)

    def grid_of(self, unit_id: str) -> str:
        """The grid a unit is in now."""
        self._require_units([unit_id])
        return self._state.plan[unit_id]

    def members(self, grid_id: str) -> list[str]:
        """The unit ids of a grid, sorted."""
        self._require_grid(grid_id)
        return sorted(u for u, g in self._state.plan.items() if g == grid_id)

    def check(self, grid_id: str) -> GridCheck:
        """How a grid stands: its counts, band (R1) and contiguity (R5), with reasons."""
        return self._check(grid_id, self.members(grid_id))

    def neighbours(self, grid_id: str) -> list[str]:
        """The grids of the same community sharing a boundary with a grid."""
        plan = self._state.plan
        mine = set(self.members(grid_id))
        touch = {plan[n] for u in mine for n in self._adj[u]} - {grid_id}
        return sorted(touch)

    def unit_targets(self, unit_id: str) -> list[str]:
        """The grids a unit could move to: those of the units it touches, its own grid left out."""
        own = self.grid_of(unit_id)
        plan = self._state.plan
        return sorted({plan[n] for n in self._adj[unit_id]} - {own})

    def block(self, unit_id: str) -> list[str]:
        """The units of a unit's grid reachable from it without crossing a road or river."""
        grid = self.grid_of(unit_id)
        seen, todo = {unit_id}, [unit_id]
        plan = self._state.plan
        while todo:
            u = todo.pop()
            for n in self._adj[u]:
                if n not in seen and plan[n] == grid and frozenset((u, n)) not in self._along:
                    seen.add(n)
                    todo.append(n)
        return sorted(seen)

    def table(self) -> pd.DataFrame:
        """One row per grid: counts, class, flag, code (empty when changed), lock, band, contiguity."""
        members = _members(self._state.plan)
        rows = []
        for gid in sorted(members):
            m = self._state.meta[gid]
            chk = self._check(gid, members[gid])
            changed = members[gid] != self._base_members.get(gid)
            rows.append({"grid_id": gid, "community_code": m.community_code, "community_name": m.community_name,
                         "grid_class": m.grid_class, "households": chk.households, "residents": chk.residents,
                         "n_units": len(members[gid]), "flag": "" if changed else m.flag,
                         "grid_code": "" if changed else self._codes.get(gid, ""), "locked": gid in self.locked,
                         "changed": changed, "in_band": chk.in_band, "connected": chk.connected,
                         "reasons": " ".join(chk.reasons)})  # fmt: skip
        return pd.DataFrame(rows)

    def grids(self) -> gpd.GeoDataFrame:
        """The grid layer as edited (:data:`GRID_COLUMNS` and ``grid_code``, input CRS).

        A grid whose units did not change keeps its attributes and code; a changed one has
        new counts, ``solver_status`` ``edited``, no flag and no code (one is given on approval).
        """
        members = _members(self._state.plan)
        rows = []
        for gid in sorted(members):
            m = self._state.meta[gid]
            uids = members[gid]
            changed = uids != self._base_members.get(gid)
            geom = self._shape(uids)
            flag = m.flag if not changed else ("multipart" if geom.geom_type == "MultiPolygon" else "")
            rows.append({"grid_id": gid, "community_code": m.community_code, "community_name": m.community_name,
                         "grid_class": m.grid_class, "dedicated_class": m.dedicated_class, "landuse_id": m.landuse_id,
                         **{c: sum(self._counts[c][x] for x in uids) for c in ("households", "residents")},
                         "n_units": len(uids), "n_buildings": sum(self._counts["n_buildings"][x] for x in uids),
                         "area_m2": round(float(geom.area), 1), "flag": flag,
                         "solver_status": "edited" if changed else m.solver_status,
                         "grid_code": None if changed else self._codes.get(gid), "geometry": geom})  # fmt: skip
        gdf = gpd.GeoDataFrame(rows, columns=[*GRID_COLUMNS, "grid_code"], geometry="geometry",
                               crs=self.units.units.crs)  # fmt: skip
        return gdf.to_crs(self.district.crs) if self.district.crs is not None else gdf

    def units_frame(self) -> gpd.GeoDataFrame:
        """The units with the grid each is in now (input CRS)."""
        u = self.units.units[["unit_id", "community_code", "kind", "households", "residents", "geometry"]].copy()
        u["grid_id"] = u["unit_id"].map(self._state.plan)
        return u.to_crs(self.district.crs) if self.district.crs is not None else u

    # -- edits --------------------------------------------------------------------------------
    def move(
        self,
        *,
        to_grid: str,
        unit_ids: Iterable[str] | None = None,
        building_id: str | None = None,
        block: str | None = None,
    ) -> Outcome:
        """Move units to an adjacent grid of their community, checked at once.

        Give exactly one of ``unit_ids``, ``building_id`` (the unit holding that building) or
        ``block`` (a unit id: the units of its grid it reaches without crossing a road or river,
        see :meth:`block`).

        Parameters
        ----------
        to_grid : str
            The grid that receives the units.
        unit_ids : iterable of str, optional
        building_id : str, optional
        block : str, optional

        Returns
        -------
        Outcome
            Refused (nothing changed) when the units are of several grids, of another community,
            of a locked or dedicated grid, when the move would empty their grid or cut either
            grid in two; otherwise done, with both grids' band and contiguity.

        Raises
        ------
        InputError
            When a unit, building or grid is unknown, or not exactly one of the three is given.
        """
        moving = self._moving_units(unit_ids, building_id, block)
        self._require_grid(to_grid)
        plan = self._state.plan
        sources = sorted({plan[u] for u in moving})
        refusal = self._move_refusal(moving, sources, to_grid)
        if refusal:
            return Outcome("move", False, (refusal,))
        source = sources[0]
        rest = [u for u in self.members(source) if u not in set(moving)]
        target = sorted(set(self.members(to_grid)) | set(moving))
        for gid, uids in ((source, rest), (to_grid, target)):
            if not _connected(self._adj, set(uids)):
                why = (_("grid {gid} would be cut in two (R5); nothing moved") if gid == source else
                       _("grid {gid} would not be one piece: the units do not touch it (R5); nothing moved"))
                return Outcome("move", False, (why.format(gid=gid),))
        change = Change("move", self._community[moving[0]], source, to_grid, tuple(moving), self._sum(moving))
        self._apply({u: to_grid for u in moving}, change)
        return self._outcome("move", [source, to_grid], moving)

    def lock(self, grid_id: str) -> Outcome:
        """Lock a grid: no move, merge, split or rebalance touches it until unlocked."""
        self._require_grid(grid_id)
        self._push(replace(self._state, locked=self._state.locked | {grid_id}))
        return Outcome("lock", True, grids=(self.check(grid_id),))

    def unlock(self, grid_id: str) -> Outcome:
        """Unlock a grid."""
        self._require_grid(grid_id)
        self._push(replace(self._state, locked=self._state.locked - {grid_id}))
        return Outcome("unlock", True, grids=(self.check(grid_id),))

    def merge(self, a: str, b: str) -> Outcome:
        """Merge grid ``b`` into grid ``a`` (same community, adjacent, both unlocked community grids)."""
        for gid in (a, b):
            self._require_grid(gid)
        refusal = self._pair_refusal(a, b)
        if refusal:
            return Outcome("merge", False, (refusal,))
        moving = self.members(b)
        change = Change("merge", self._state.meta[a].community_code, b, a, tuple(moving), self._sum(moving))
        self._apply({u: a for u in moving}, change, drop=[b])
        return self._outcome("merge", [a], moving)

    def split(self, grid_id: str) -> Outcome:
        """Split a grid in two as the partitioner proposes (cheapest boundary, halves in the band if they can be).

        Returns
        -------
        Outcome
            Refused for a locked or dedicated grid, or one of a single unit.
        """
        self._require_grid(grid_id)
        refusal = self._editable(grid_id) or ("" if len(self.members(grid_id)) > 1 else
                                              _("grid {gid} is one unit: nothing to split").format(gid=grid_id))  # fmt: skip
        if refusal:
            return Outcome("split", False, (refusal,))
        uids = self.members(grid_id)
        plan = self._split_plan(uids)
        part_of_first = plan[uids[0]]
        moving = sorted(u for u in uids if plan[u] != part_of_first)
        new_id = self._new_grid_id(self._state.meta[grid_id].community_code, 1)[0]
        change = Change("split", self._community[uids[0]], grid_id, new_id, tuple(moving), self._sum(moving))
        self._apply({u: new_id for u in moving}, change, new={new_id: self._state.meta[grid_id]})
        return self._outcome("split", [grid_id, new_id], moving)

    def rebalance(self, community_code: str) -> Outcome:
        """Re-solve the unlocked community grids of a community; locked grids are held as they are.

        The units of the unlocked grids (less those of a grid that is one unit heavier than
        the band) are re-partitioned by :func:`gridgeo.partition.partition_graph` with the
        session's band, time limit and seed, each connected part on its own. A new grid takes
        the id of the old grid it shares most households with.

        Returns
        -------
        Outcome
            Refused when the community has no unlocked grid, or when the band cannot be met
            by the unlocked units (the reason says why).
        """
        free = self._free_units(community_code)
        if not free:
            return Outcome("rebalance", False, (_("community {code} has no unlocked grid to rebalance").format(code=community_code),))
        try:
            parts = self._solve_parts(free)
        except InfeasibleError as exc:
            return Outcome("rebalance", False, (_("the unlocked grids of {code} cannot be rebalanced: {why}").format(
                code=community_code, why=exc),))  # fmt: skip
        named = self._name_parts(parts, community_code)
        before = self._state.plan
        updates = {u: g for g, uids in named.items() for u in uids if before[u] != g}
        old_ids = {before[u] for u in free}
        drop = sorted(old_ids - set(named))
        template = self._state.meta[sorted(old_ids)[0]]
        new = {g: replace(template, flag="", solver_status="edited") for g in named if g not in old_ids}
        changes = self._changes_of("rebalance", updates)
        if not updates:
            return Outcome("rebalance", True, (_("the unlocked grids are already the partitioner's plan"),),
                           tuple(self.check(g) for g in sorted(named)))  # fmt: skip
        self._apply(updates, *changes, drop=drop, new=new)
        return self._outcome("rebalance", sorted(named), sorted(updates))

    def undo(self) -> Outcome:
        """Undo the last edit (a move, lock, merge, split or rebalance)."""
        if not self._undo:
            return Outcome("undo", False, (_("nothing to undo"),))
        self._redo.append(self._state)
        self._state = self._undo.pop()
        return Outcome("undo", True)

    def redo(self) -> Outcome:
        """Redo the last undone edit."""
        if not self._redo:
            return Outcome("redo", False, (_("nothing to redo"),))
        self._undo.append(self._state)
        self._state = self._redo.pop()
        return Outcome("redo", True)

    # -- approval -----------------------------------------------------------------------------
    def approve(self, *, by: str, at: dt.datetime | None = None, date: dt.date | str | None = None) -> Approval:
        """Write the edited grids into the output folder, with their codes, proof and record.

        The grids are proved first (:func:`gridgeo.coverage.check_coverage`); with a blocking
        finding nothing is written. Otherwise the registry keeps the codes of unchanged grids,
        issues codes for the changed ones and retires the codes no grid kept, with their
        lineage; ``grids.gpkg`` (grids, findings), ``unit_grid.csv``, ``building_grid.csv``,
        ``coverage.md`` and ``map.html`` are replaced atomically, and every change is recorded
        in the registry's table ``approved_changes``.

        Parameters
        ----------
        by : str
            Who approves (recorded with every change).
        at : datetime, optional
            When (default now, UTC).
        date : date or str, optional
            Issue and retire date of codes (default today).

        Returns
        -------
        Approval

        Raises
        ------
        InputError
            When ``by`` is empty or another process is writing the folder.
        """
        if not str(by).strip():
            raise InputError([Problem("approve", None, _("say who approves (by=...)"))])
        grids = self.grids()
        coverage = check_coverage(grids, self.district, units=self.units, band=self.band, codes=False)
        if not coverage.ok:
            blocking = coverage.findings[coverage.findings["severity"] == "blocking"]
            return Approval(False, grids, coverage, pd.DataFrame(), reasons=tuple(blocking["message"].astype(str)))
        when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        with output_lock(self.out):  # the one writer lock of every command (gridgeo.io)
            with CodeRegistry(self.out / REGISTRY) as reg:
                coded = assign_codes(grids, registry=reg, date=date, retire_missing=True)
            rows = self._change_rows(coded, by, when)
            written = self._write(coded, coverage)
            number = record_changes(self.out / REGISTRY, rows) if rows else None
        plan = dict(self._state.plan)
        self._shape_cache.clear()
        self._reset_baseline(coded, plan)
        return Approval(True, coded, coverage, pd.DataFrame(rows, columns=CHANGE_COLUMNS[1:]), number, written)

    def _change_rows(self, coded: gpd.GeoDataFrame, by: str, when: str) -> list[dict]:
        new_codes = dict(zip(coded["grid_id"], coded["grid_code"], strict=True))
        return [{"at": when, "by": by, "op": c.op, "community_code": c.community_code, "from_grid_id": c.from_grid,
                 "from_code": self._codes.get(c.from_grid, ""), "to_grid_id": c.to_grid,
                 "to_code": new_codes.get(c.to_grid, ""), "units": " ".join(c.units), "households": c.households}
                for c in self._state.changes]  # fmt: skip

    def _write(self, coded: gpd.GeoDataFrame, coverage: CoverageReport) -> list[Path]:
        gpkg = self.out / "grids.gpkg"
        layers = {name: pyogrio.read_dataframe(gpkg, layer=name) for name, _ in pyogrio.list_layers(gpkg)
                  if name != "grids" and name != "findings" and not name.startswith("findings_")}  # fmt: skip
        layers = {"grids": coded, **layers}
        if len(coverage.findings):
            layers.update(by_geometry_type("findings", coverage.findings))
        written = [write_layers(layers, gpkg)]
        plan = self._state.plan
        ug = pd.read_csv(self.out / "unit_grid.csv", dtype={"unit_id": str, "grid_id": str, "community_code": str})
        ug["grid_id"] = ug["unit_id"].map(plan).fillna(ug["grid_id"])
        written.append(write_table(ug, self.out / "unit_grid.csv"))
        bg = pd.read_csv(self.out / "building_grid.csv", dtype={"building_id": str, "grid_id": str})
        unit = bg["building_id"].map(self._unit_of_building)
        bg["grid_id"] = unit.map(plan).fillna(bg["grid_id"])
        written.append(write_table(bg, self.out / "building_grid.csv"))
        written.append(write_text(coverage.to_markdown(), self.out / "coverage.md"))
        from gridgeo.export.maps import write_map

        findings = coverage.findings if len(coverage.findings) else None
        written.append(write_map(coded, self.out / "map.html", district=self.district, findings=findings))
        return written

    # -- phases of the edits ------------------------------------------------------------------
    def _moving_units(self, unit_ids, building_id, block) -> list[str]:
        given = [x is not None for x in (unit_ids, building_id, block)]
        if sum(given) != 1:
            raise InputError([Problem("move", None, _("give exactly one of unit_ids, building_id or block"))])
        if building_id is not None:
            unit = self._unit_of_building.get(str(building_id))
            if unit is None:
                raise InputError([Problem("buildings", str(building_id), _("no such building in any unit"))])
            return [unit]
        if block is not None:
            return self.block(block)
        moving = sorted(set(unit_ids))
        if not moving:
            raise InputError([Problem("move", None, _("no unit given"))])
        self._require_units(moving)
        return moving

    def _move_refusal(self, moving: list[str], sources: list[str], to_grid: str) -> str:
        target = self._state.meta[to_grid]
        if len(sources) > 1:
            return _("the units are in {n} grids ({grids}): move one grid's units at a time").format(
                n=len(sources), grids=", ".join(sources))  # fmt: skip
        other = sorted({self._community[u] for u in moving} - {target.community_code})
        if other:
            return _("the units belong to community {codes}, grid {grid} to {target}: a grid never straddles two "
                     "communities (R2)").format(codes=", ".join(other), grid=to_grid, target=target.community_code)  # fmt: skip
        if sources[0] == to_grid:
            return _("the units are already in grid {grid}").format(grid=to_grid)
        refusal = self._editable(sources[0]) or self._editable(to_grid)
        if refusal:
            return refusal
        if len(moving) == len(self.members(sources[0])):
            return _("the move would leave grid {grid} empty: merge it into {target} instead").format(grid=sources[0], target=to_grid)
        return ""

    def _editable(self, grid_id: str) -> str:
        if grid_id in self.locked:
            return _("grid {gid} is locked: unlock it first").format(gid=grid_id)
        if self._state.meta[grid_id].grid_class != "community":
            return _("grid {gid} is a dedicated site (R4): its units stay its own grid").format(gid=grid_id)
        return ""

    def _pair_refusal(self, a: str, b: str) -> str:
        if a == b:
            return _("a grid cannot be merged with itself")
        ma, mb = self._state.meta[a], self._state.meta[b]
        if ma.community_code != mb.community_code:
            return _("grids {a} and {b} are in communities {ca} and {cb}: a grid never straddles two communities "
                     "(R2)").format(a=a, b=b, ca=ma.community_code, cb=mb.community_code)  # fmt: skip
        refusal = self._editable(a) or self._editable(b)
        if refusal:
            return refusal
        if b not in self.neighbours(a):
            return _("grids {a} and {b} do not touch: the merged grid would not be one piece (R5)").format(a=a, b=b)
        return ""

    def _free_units(self, community_code: str) -> list[str]:
        """The units of a community's unlocked community grids, less one-unit grids over the band."""
        members = _members(self._state.plan)
        free = []
        m = self.band.measure
        for gid, uids in members.items():
            meta = self._state.meta[gid]
            if meta.community_code != community_code or self._editable(gid):
                continue
            if len(uids) == 1 and self._counts[m][uids[0]] > self.band.upper:
                continue
            free.extend(uids)
        return sorted(free)

    def _graph(self, uids: list[str]):
        import networkx as nx

        g = nx.Graph()
        m = self.band.measure
        for u in uids:
            g.add_node(u, **{m: self._counts[m][u]})
        keep = set(uids)
        for u in uids:
            for n in self._adj[u]:
                if n in keep and u < n:
                    g.add_edge(u, n, edge_cost=self._cost[frozenset((u, n))])
        return g

    def _solve_parts(self, free: list[str]) -> list[list[str]]:
        """Partition the free units, each connected piece on its own; raises InfeasibleError."""
        import networkx as nx

        graph = self._graph(free)
        band, opt = self.band, self.options
        parts: list[list[str]] = []
        for comp in sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: c[0]):
            total = sum(self._counts[band.measure][u] for u in comp)
            if total < band.lower:
                parts.append(comp)  # below the band whatever is done: one grid
                continue
            plan = partition_graph(graph.subgraph(comp), band.measure, band.lower, band.upper,
                                   time_limit=opt.time_limit, seed=opt.seed)  # fmt: skip
            parts.extend(sorted(_members(plan).values(), key=lambda p: p[0]))
        return parts

    def _name_parts(self, parts: list[list[str]], community_code: str) -> dict[str, list[str]]:
        """Give each new part the id of the old grid it shares most of the measure with."""
        plan, m = self._state.plan, self.band.measure
        overlap = []
        for i, p in enumerate(parts):
            shared: dict[str, int] = {}
            for u in p:
                shared[plan[u]] = shared.get(plan[u], 0) + self._counts[m][u] + 1
            overlap.extend((-w, gid, i) for gid, w in shared.items())
        named: dict[str, list[str]] = {}
        taken: set[int] = set()
        for _w, gid, i in sorted(overlap):
            if i not in taken and gid not in named:
                named[gid] = parts[i]
                taken.add(i)
        rest = [i for i in range(len(parts)) if i not in taken]
        for i, gid in zip(rest, self._new_grid_id(community_code, len(rest)), strict=True):
            named[gid] = parts[i]
        return named

    def _split_plan(self, uids: list[str]) -> dict:
        """Two connected halves: in the band if possible, else as even as the partitioner finds."""
        graph = self._graph(uids)
        m, opt = self.band.measure, self.options
        total = sum(self._counts[m][u] for u in uids)
        bands = [(self.band.lower, self.band.upper), (math.floor(0.4 * total), math.ceil(0.6 * total)),
                 (math.floor(0.2 * total), math.ceil(0.8 * total)), (0, total)]  # fmt: skip
        for lo, hi in bands:
            try:
                return partition_graph(graph, m, lo, hi, n_parts=2, time_limit=opt.time_limit, seed=opt.seed)
            except InfeasibleError:
                continue
        return _tree_split(graph, m)

    def _new_grid_id(self, community_code: str, n: int) -> list[str]:
        used = set(self._state.meta) | set(self._codes)
        out, i = [], 1
        while len(out) < n:
            gid = f"{community_code}-C{i:02d}"
            if gid not in used:
                out.append(gid)
            i += 1
        return out

    def _changes_of(self, op: str, updates: dict[str, str]) -> list[Change]:
        plan = self._state.plan
        groups: dict[tuple[str, str], list[str]] = {}
        for u, g in sorted(updates.items()):
            groups.setdefault((plan[u], g), []).append(u)
        return [Change(op, self._community[uids[0]], a, b, tuple(uids), self._sum(uids))
                for (a, b), uids in sorted(groups.items())]  # fmt: skip

    def _apply(self, updates: dict[str, str], *changes: Change, drop=(), new=None) -> None:
        plan = {**self._state.plan, **updates}
        meta = {k: v for k, v in self._state.meta.items() if k not in set(drop)} | (new or {})
        locked = self._state.locked - set(drop)
        self._push(_State(plan, meta, locked, self._state.changes + tuple(changes)))

    def _push(self, state: _State) -> None:
        self._undo.append(self._state)
        self._redo.clear()
        self._state = state

    def _outcome(self, op: str, grid_ids: list[str], moved: list[str]) -> Outcome:
        checks = tuple(self.check(g) for g in grid_ids)
        notes = tuple(r for c in checks for r in c.reasons)
        return Outcome(op, True, notes, checks, tuple(sorted(moved)))

    def _check(self, grid_id: str, uids: list[str]) -> GridCheck:
        band, meta = self.band, self._state.meta[grid_id]
        h = sum(self._counts["households"][u] for u in uids)
        r = sum(self._counts["residents"][u] for u in uids)
        value = h if band.measure == "households" else r
        in_band = meta.grid_class != "community" or band.lower <= value <= band.upper
        connected = _connected(self._adj, set(uids)) if meta.grid_class == "community" else True
        reasons = []
        if not in_band:
            side = (_("fewer than {n}").format(n=band.lower) if value < band.lower
                    else _("more than {n}").format(n=band.upper))
            why = (_(" (the run's flag: {flag})").format(flag=meta.flag)
                   if meta.flag and _members_equal(self, grid_id, uids) else "")
            reasons.append(_("grid {gid} holds {n} {measure}, {side} (R1){why}").format(
                gid=grid_id, n=value, measure=_(band.measure), side=side, why=why))
        if not connected:
            reasons.append(_("grid {gid} is not one piece (R5)").format(gid=grid_id))
        return GridCheck(grid_id, h, r, in_band, connected, tuple(reasons))

    def _sum(self, uids: Iterable[str]) -> int:
        return sum(self._counts["households"][u] for u in uids)

    def _shape(self, uids: list[str]) -> shapely.Geometry:
        key = tuple(uids)
        if key not in self._shape_cache:
            merged = snap(shapely.union_all([self._geom[u] for u in uids], grid_size=GRID_SIZE), SNAP_M)
            if merged.geom_type == "MultiPolygon":
                merged = shapely.MultiPolygon(sorted(shapely.get_parts(merged), key=lambda p: -p.area))
            self._shape_cache[key] = merged
        return self._shape_cache[key]

    def _require_units(self, unit_ids: Iterable[str]) -> None:
        unknown = [u for u in unit_ids if u not in self._state.plan]
        if unknown:
            raise InputError([Problem("units", u, _("no such unit in this output")) for u in unknown])

    def _require_grid(self, grid_id: str) -> None:
        if grid_id not in self._state.meta:
            raise InputError([Problem("grids", str(grid_id), _("no such grid in this session"))])


def _tree_split(graph, weight: str) -> dict:
    """Two connected halves by cutting the spanning-tree edge that balances the weights best."""
    import networkx as nx

    tree = nx.minimum_spanning_tree(graph, weight="edge_cost")
    total = sum(d[weight] for _, d in graph.nodes(data=True))
    best = None
    for a, b in sorted(tree.edges(), key=lambda e: tuple(sorted(e))):
        tree.remove_edge(a, b)
        side = nx.node_connected_component(tree, a)
        tree.add_edge(a, b)
        w = sum(graph.nodes[n][weight] for n in side)
        key = (abs(total - 2 * w), abs(graph.number_of_nodes() - 2 * len(side)))
        if best is None or key < best[0]:
            best = (key, side)
    side = best[1]
    return {n: 0 if n in side else 1 for n in graph.nodes}


def _members_equal(review: Review, grid_id: str, uids: list[str]) -> bool:
    return review._base_members.get(grid_id) == uids


def _s(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _members(plan: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for u in sorted(plan):
        out.setdefault(plan[u], []).append(u)
    return out


def _connected(adj: dict[str, set[str]], nodes: set[str]) -> bool:
    if not nodes:
        return True
    start = next(iter(nodes))
    seen, todo = {start}, [start]
    while todo:
        for n in adj[todo.pop()]:
            if n in nodes and n not in seen:
                seen.add(n)
                todo.append(n)
    return len(seen) == len(nodes)
