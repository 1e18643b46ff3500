"""Give a grid layer its codes, in the documented serial order.

Serial order: west → east, north → south within the community (and grid class, for schemes
with a class field), in rows ``band_m`` metres high, as defined once in :mod:`gridgeo.ordering`;
the partition numbers its ``grid_id`` in the same order, so grid C01 carries serial 001.

The order is deterministic and depends only on the geometries and ids. Serials are
given in this order *at first issue* only: with a registry, a grid that already holds
an active code keeps it, and new grids take serials above the high-water mark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.coding.codes import SchemeLike, validate_code, validate_division_code
from gridgeo.coding.registry import CodeRegistry, IssueRequest, as_date
from gridgeo.coding.scheme import DIVISION_ROLES, CodeScheme, get_scheme
from gridgeo.errors import CodeError, InputError, Problem, RegistryError
from gridgeo.i18n import _
from gridgeo.ordering import DEFAULT_BAND_M, reading_rank
from gridgeo.schema import GRID_CLASSES, check_grid_layer, grid_layer_problems

_REQUIRED = ("grid_id", "community_code", "grid_class")


def serial_order(
    grids: gpd.GeoDataFrame,
    *,
    band_m: float = DEFAULT_BAND_M,
    scheme: SchemeLike = None,
) -> pd.Series:
    """Rank each grid within its community (and class) west → east, north → south.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid layer with ``grid_id``, ``community_code``, ``grid_class`` and polygons.
    band_m : float
        Row height in metres (see the module docstring).
    scheme : CodeScheme, str, path or None
        Decides whether classes are numbered apart (a ``grid_class`` field) or together.

    Returns
    -------
    pandas.Series
        1-based rank, indexed like ``grids``.
    """
    if band_m <= 0:
        raise CodeError(_("band_m must be positive, got {value}").format(value=band_m))
    sch = get_scheme(scheme)
    by_class = sch.field_for_role("grid_class") is not None
    return reading_rank(grids, band_m=band_m, by_class=by_class)


def _check_layer(grids: gpd.GeoDataFrame) -> None:
    """Collect every problem of the layer that stops coding, then raise once."""
    check_grid_layer(grids, need=_REQUIRED, crs=False)
    problems: list[Problem] = grid_layer_problems(grids[["grid_id", grids.geometry.name]].astype({"grid_id": str}),
                                                  key="grid_id", crs=False)  # fmt: skip
    ids = grids["grid_id"].astype(str)
    for gid, comm, cls, geom in zip(
        ids, grids["community_code"], grids["grid_class"], grids.geometry, strict=True
    ):
        for msg in validate_division_code(comm if isinstance(comm, str) else str(comm)):
            problems.append(Problem("grids", gid, _("{where}: {message}").format(where="community_code", message=msg)))
        if cls not in GRID_CLASSES:
            problems.append(
                Problem("grids", gid, _("grid_class {cls!r} is not one of {known}").format(cls=cls, known=list(GRID_CLASSES)))
            )
        if geom is None or geom.is_empty:
            problems.append(Problem("grids", gid, _("no geometry; every grid needs its polygon")))
    if problems:
        raise InputError(problems)


def _compose(scheme: CodeScheme, community: str, grid_class: str, serial: int) -> str:
    parts: dict[str, str | int] = {}
    start = 0
    for role, width in zip(DIVISION_ROLES, (2, 2, 2, 3, 3), strict=True):
        parts[scheme.field_for_role(role).name] = community[start : start + width]  # type: ignore[union-attr]
        start += width
    for f in scheme.fields:
        if f.role == "grid_class":
            parts[f.name] = scheme.class_digit(grid_class)
        elif f.role == "serial":
            top = f.maximum if f.maximum is not None else 10**f.width - 1
            if serial > top:
                raise CodeError(
                    _("community {community} has more than {top} {cls} grids; scheme {scheme!r} numbers at most "
                      "{top}").format(community=community, top=top, cls=_(grid_class), scheme=scheme.name)
                )  # fmt: skip
            parts[f.name] = serial
        elif f.role == "subgrid":
            parts[f.name] = f.minimum or 0
        elif f.role in ("object", "other"):
            if f.default is None:
                raise CodeError(
                    _("scheme {scheme!r}: field {name!r} has no default to assign").format(scheme=scheme.name, name=f.name)
                )
            parts[f.name] = f.default
    return scheme.compose(parts)


def _overlap_ratio(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Area of the symmetric difference over the larger area (0 = identical)."""
    denom = max(a.area, b.area)
    return 1.0 if denom == 0 else float(shapely.symmetric_difference(a, b).area / denom)


def assign_codes(
    grids: gpd.GeoDataFrame,
    *,
    registry: CodeRegistry | None = None,
    scheme: SchemeLike = None,
    date: dt.date | str | None = None,
    band_m: float = DEFAULT_BAND_M,
    match_tolerance: float = 0.01,
    retire_missing: bool = False,
) -> gpd.GeoDataFrame:
    """Give every grid of a layer its code, in the documented serial order.

    Parameters
    ----------
    grids : GeoDataFrame
        The grid layer (contract: ``grid_id``, ``community_code``, ``grid_class``,
        polygons; a ``grid_code`` column is honoured with a registry). Not modified.
    registry : CodeRegistry, optional
        Without one, serials are 1, 2, ... per community (and class) in serial order.
        With one, codes are issued and recorded: a grid keeps an active code it already
        carries (``grid_code`` column) or whose registered snapshot matches its shape
        (see ``match_tolerance``); a valid code the registry never saw is adopted; the
        other grids get new codes above the high-water mark, in serial order.
    scheme : CodeScheme, str, path or None
        The scheme (default ``gridgeo-19``; with a registry, the registry's).
    date : date or str, optional
        ``valid_from`` of new codes (today when None).
    band_m : float
        Row height of the serial order, in metres.
    match_tolerance : float
        Largest symmetric-difference area, as a share of the larger area, for a grid to
        keep the active code whose snapshot it matches (0.01 = 1 %).
    retire_missing : bool
        With a registry: retire the active codes of the layer's communities that no
        grid kept, linking each to the new grids that overlap it (``split`` when one old
        grid became several, ``merge`` when several became one, ``boundary_change``
        otherwise). Use only with a layer holding whole communities.

    Notes
    -----
    Codes are unique even when two processes assign into one registry at once (each
    issue batch is one ``BEGIN IMMEDIATE`` transaction); but the shape matching reads
    before it issues, so two concurrent runs of the *same* layer may each issue new codes
    for the same grids. Run one assignment per registry at a time.

    Returns
    -------
    GeoDataFrame
        A copy of ``grids`` with a ``grid_code`` column (str).

    Raises
    ------
    InputError
        When the layer lacks columns, repeats ids, has bad community codes, unknown
        grid classes or empty geometries (all listed at once).
    CodeError
        When a carried code is invalid, retired or belongs elsewhere, or serials run out.
    RegistryError
        When ``scheme`` differs from the registry's.
    """
    _check_layer(grids)
    sch = _scheme_of(registry, scheme)
    out = grids.copy()
    # Work by position: a caller's index may repeat labels.
    work = out.reset_index(drop=True)
    communities = work["community_code"].astype(str)
    classes = work["grid_class"].astype(str)

    if registry is None:
        rank = serial_order(work, band_m=band_m, scheme=sch)
        out["grid_code"] = [
            _compose(sch, c, k, int(r)) for c, k, r in zip(communities, classes, rank, strict=True)
        ]
        return out

    day = as_date(date)
    codes, to_adopt = _carried_codes(work, communities, classes, sch, registry)
    for idx, code in to_adopt:
        registry.adopt(code, date=day, geometry=work.geometry.loc[idx], crs=work.crs,
                       grid_id=str(work.at[idx, "grid_id"]))  # fmt: skip
    _match_snapshots(work, communities, classes, registry, codes, match_tolerance)
    new_idx = _issue_new(work, communities, classes, sch, registry, codes, band_m, day)
    if retire_missing:
        _retire_missing(registry, work, codes, set(new_idx), set(communities), day)
    out["grid_code"] = [codes[i] for i in range(len(work))]
    return out


def _scheme_of(registry: CodeRegistry | None, scheme: SchemeLike) -> CodeScheme:
    """The scheme codes are made in: the registry's (which ``scheme`` must equal), else ``scheme``."""
    if registry is not None:
        if scheme is not None and get_scheme(scheme).to_json() != registry.scheme.to_json():
            raise RegistryError(
                _("{path}: registry scheme is {stored!r}, not {given!r}").format(
                    path=registry.path, stored=registry.scheme.name, given=get_scheme(scheme).name)
            )  # fmt: skip
        sch = registry.scheme
    else:
        sch = get_scheme(scheme)
    if not sch.has_division or sch.field_for_role("serial") is None:
        raise CodeError(_("scheme {scheme!r} needs the division fields and a serial to assign").format(scheme=sch.name))
    return sch


def _carried_codes(
    work: gpd.GeoDataFrame, communities: pd.Series, classes: pd.Series, sch: CodeScheme, registry: CodeRegistry
) -> tuple[dict[Hashable, str], list[tuple[Hashable, str]]]:
    """Codes the grids already carry (kept), and those the registry never saw (to adopt).

    Raises
    ------
    CodeError
        Listing every carried code that is invalid, of another community or class, carried
        twice, or retired.
    """
    codes: dict[Hashable, str] = {}
    problems: list[Problem] = []
    to_adopt: list[tuple[Hashable, str]] = []
    carried = work["grid_code"] if "grid_code" in work.columns else pd.Series([None] * len(work), index=work.index)
    for idx, gid, comm, cls, code in zip(
        work.index, work["grid_id"].astype(str), communities, classes, carried, strict=True
    ):
        if code is None or (isinstance(code, float) and np.isnan(code)) or str(code).strip() == "":
            continue
        code = str(code).strip()
        why = _carried_problem(code, comm, cls, sch, registry, codes)
        if why:
            problems.append(Problem("grids", gid, why))
            continue
        if code not in registry:
            to_adopt.append((idx, code))
        codes[idx] = code
    if problems:
        raise CodeError(
            _("{n} grid code problem(s):").format(n=len(problems)) + "\n  " + "\n  ".join(str(p) for p in problems)
        )
    return codes, to_adopt


def _carried_problem(
    code: str, comm: str, cls: str, sch: CodeScheme, registry: CodeRegistry, codes: dict
) -> str | None:
    """Why a grid cannot keep the code it carries, or None when it can."""
    bad = validate_code(code, scheme=sch)
    if bad:
        return _("grid_code {code}: {problems}").format(code=code, problems=" ".join(bad))
    if sch.division_code(code) != comm:
        return _("grid_code {code} belongs to community {division}, not {community}; clear it to issue a new "
                 "code").format(code=code, division=sch.division_code(code), community=comm)  # fmt: skip
    cls_f = sch.field_for_role("grid_class")
    if cls_f is not None and code[sch.span(cls_f.name)] != sch.class_digit(cls):
        return _("grid_code {code} is not of class {cls!r}").format(code=code, cls=cls)
    if code in codes.values():
        return _("grid_code {code} is carried by two grids").format(code=code)
    if code in registry:
        rec = registry.record(code)
        if rec.status != "active":
            return _("grid_code {code} was retired on {date} and is never reused; clear it to issue a new "
                     "code").format(code=code, date=rec.valid_to)  # fmt: skip
    return None


def _match_snapshots(
    work: gpd.GeoDataFrame,
    communities: pd.Series,
    classes: pd.Series,
    registry: CodeRegistry,
    codes: dict[Hashable, str],
    match_tolerance: float,
) -> None:
    """Grids whose shape matches an active snapshot of their community and class keep that code."""
    active = registry.snapshots(status="active") if len(work) else None
    held = set(codes.values())
    if active is None or not len(active):
        return
    active = active[active["community_code"].isin(set(communities))]
    for (comm, cls), cand in active.groupby(["community_code", "grid_class"]):
        cand = cand[~cand["code"].isin(held)]
        mask = (communities == comm) & (classes == cls) & ~work.index.isin(list(codes))
        if cand.empty or not mask.any():
            continue
        mine = work.loc[mask].geometry
        if cand.crs is not None and work.crs is not None:
            mine = mine.to_crs(cand.crs)
        pairs = sorted(
            (_overlap_ratio(g, c_geom), str(work.at[idx, "grid_id"]), c_code, idx)
            for idx, g in mine.items()
            for c_code, c_geom in zip(cand["code"], cand.geometry, strict=True)
        )
        for ratio, _gid, c_code, idx in pairs:
            if ratio > match_tolerance:
                break
            if idx in codes or c_code in held:
                continue
            codes[idx] = c_code
            held.add(c_code)


def _issue_new(  # noqa: PLR0913 - the layer, its keys, the scheme and registry, the serial band and the date
    work: gpd.GeoDataFrame,
    communities: pd.Series,
    classes: pd.Series,
    sch: CodeScheme,
    registry: CodeRegistry,
    codes: dict[Hashable, str],
    band_m: float,
    day: str,
) -> list[Hashable]:
    """New grids get serials above the high-water mark, in serial order; return their positions."""
    new_idx = [i for i in work.index if i not in codes]
    if not new_idx:
        return new_idx
    rank = serial_order(work.loc[new_idx], band_m=band_m, scheme=sch)
    ordered = sorted(new_idx, key=lambda i: (communities[i], classes[i], int(rank[i])))
    reqs = [
        IssueRequest(communities[i], classes[i], work.geometry.loc[i], work.crs, str(work.at[i, "grid_id"]))
        for i in ordered
    ]
    for i, code in zip(ordered, registry.issue_many(reqs, date=day), strict=True):
        codes[i] = code
    return new_idx


def _retire_missing(
    registry: CodeRegistry,
    work: gpd.GeoDataFrame,
    codes: dict[Hashable, str],
    new_idx: set[Hashable],
    communities: set[str],
    day: str,
) -> None:
    """Retire the layer's communities' active codes no grid holds; infer their lineage."""
    active = registry.snapshots(status="active")
    kept = set(codes.values())
    gone = active[active["community_code"].isin(communities) & ~active["code"].isin(kept)]
    if gone.empty:
        return
    new = work.loc[sorted(new_idx, key=lambda i: codes[i])] if new_idx else work.iloc[0:0]
    if gone.crs is not None and work.crs is not None and len(new):
        new_geoms = new.geometry.to_crs(gone.crs)
    else:
        new_geoms = new.geometry
    overlaps: list[tuple[str, str]] = []
    for old_code, old_geom in zip(gone["code"], gone.geometry, strict=True):
        for i, g in new_geoms.items():
            inter = shapely.intersection(old_geom, g).area
            if inter > 0.01 * min(old_geom.area, g.area):
                overlaps.append((old_code, codes[i]))
    n_new = pd.Series([o for o, _n in overlaps]).value_counts().to_dict()
    n_old = pd.Series([n for _o, n in overlaps]).value_counts().to_dict()
    links = []
    for old, new_code in overlaps:
        if n_new[old] > 1 and n_old[new_code] == 1:
            reason = "split"
        elif n_old[new_code] > 1 and n_new[old] == 1:
            reason = "merge"
        else:
            reason = "boundary_change"
        links.append((old, new_code, reason))
    registry.retire_many(
        list(gone["code"]), links=links, date=day, note="inferred by overlap in assign_codes"
    )
