"""Validation of a planner's input layers: every problem found, located, in one pass.

Two outcomes per problem:

* an **error** stops the run (collected first, then raised together as one
  :class:`~gridgeo.errors.InputError`): what would make a wrong grid, such as a building
  outside every community, a negative household count, a duplicate id, a missing CRS;
* a **warning** is repaired and reported as a finding with its location: an invalid polygon
  that ``make_valid`` repairs without adding land (a bow-tie; a hole drawn outside its shell
  is an error), a layer in another CRS (reprojected), a
  building on a community border (assigned to the community holding most of it), a sliver
  overlap between communities below the tolerance (trimmed), a building whose own community
  code disagrees with where it lies.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridgeo._geom import snap
from gridgeo.district import FINDING_COLUMNS, District, empty_findings, metric_crs
from gridgeo.divisions import division_code_problems, is_village_code, load_divisions
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.io import LayerSource, read_layer
from gridgeo.schema import ABSORBABLE, DEDICATED, LAYERS, normalise_landuse_class

_FAMILY = {
    "Polygon": "Polygon", "MultiPolygon": "Polygon", "Point": "Point", "MultiPoint": "Point",
    "LineString": "LineString", "MultiLineString": "LineString", "LinearRing": "LineString",
}  # fmt: skip




class _Collector:
    """Gathers errors and warnings with their locations."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[dict] = []
        #: An error after which the layers cannot be checked together (no CRS, wrong geometry).
        self.blocking = False

    def error(self, source: str, fid: object, message: str, *, blocking: bool = False) -> None:
        self.errors.append(Problem(source, None if fid is None else str(fid), message))
        self.blocking = self.blocking or blocking

    def warn(self, rule: str, source: str, fid: object, message: str, geom=None, crs=None) -> None:
        lon = lat = None
        if geom is not None and crs is not None and not shapely.is_empty(geom):
            pt = gpd.GeoSeries([shapely.point_on_surface(geom)], crs=crs).to_crs(4326).iloc[0]
            lon, lat = round(pt.x, 6), round(pt.y, 6)
        self.warnings.append(
            {"rule": rule, "severity": "warning", "source": source,
             "feature_id": None if fid is None else str(fid), "message": message,
             "lon": lon, "lat": lat, "geometry": geom, "_crs": crs}
        )  # fmt: skip


@dataclass(frozen=True)
class HouseholdEstimate:
    """How to estimate missing household counts from footprints (see :func:`estimate_households`).

    Attributes
    ----------
    floor_area_m2 : float
        Floor area per household (m²).
    levels_column : str
        Column of the buildings layer holding the number of storeys.
    default_levels : float
        Storeys where that column is absent or empty.
    household_size : float
        Residents per household.
    """

    floor_area_m2: float = 70.0
    levels_column: str = "levels"
    default_levels: float = 1.0
    household_size: float = 2.5


def load_district(
    sources: Mapping[str, LayerSource],
    *,
    sliver_tolerance_m2: float = 1.0,
    skip_unknown_landuse: bool = False,
    estimate: HouseholdEstimate | None = None,
    census: pd.DataFrame | None = None,
) -> District:
    """Read every input layer, validate them together and return the district.

    Parameters
    ----------
    sources : mapping
        Layer name -> :class:`~gridgeo.io.LayerSource`; ``communities`` and ``buildings`` are
        required.
    sliver_tolerance_m2 : float
        Overlaps between communities up to this area (m²) are trimmed with a warning; larger
        ones are errors.
    skip_unknown_landuse : bool
        See :func:`validate_layers`.
    estimate : HouseholdEstimate, optional
        Estimate the households and residents a building lacks from its footprint × levels.
    census : DataFrame, optional
        ``community_code``, ``households``, ``residents`` per community: shared among each
        community's buildings by floor area (:func:`distribute_census`), replacing their counts.

    Returns
    -------
    District

    Raises
    ------
    InputError
        With every problem found in every file.
    """
    problems = []
    for need in ("communities", "buildings"):
        if need not in sources:
            problems.append(Problem("input", None, _("the {name} layer is required").format(name=need)))
    if problems:
        raise InputError(problems)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for name, src in sources.items():
        if name not in LAYERS:  # a library caller's mapping (a config's layers are checked when read)
            problems.append(Problem("input", None, _("unknown layer name {name!r}").format(name=name)))
            continue
        try:
            layers[name] = read_layer(src, name)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return _counted(layers, sliver_tolerance_m2, skip_unknown_landuse, estimate, census)


def _counted(layers, sliver_tolerance_m2, skip_unknown_landuse, estimate, census) -> District:
    """Validate the layers after giving the buildings counts from the census or an estimate."""
    layers = dict(layers)
    extra = None
    if census is not None:
        est = estimate or HouseholdEstimate()
        layers["buildings"], extra = distribute_census(
            layers["buildings"], census, communities=layers["communities"],
            levels_column=est.levels_column, default_levels=est.default_levels,
        )  # fmt: skip
    elif estimate is not None:
        layers["buildings"] = estimate_households(
            layers["buildings"], floor_area_m2=estimate.floor_area_m2,
            levels_column=estimate.levels_column, default_levels=estimate.default_levels,
            household_size=estimate.household_size,
        )  # fmt: skip
    district = validate_layers(
        layers, sliver_tolerance_m2=sliver_tolerance_m2, skip_unknown_landuse=skip_unknown_landuse
    )
    if extra is not None and len(extra):
        extra = extra.to_crs(district.findings.crs)
        district.findings = pd.concat([district.findings, extra], ignore_index=True)
    return district


def validate_layers(  # noqa: C901 - the order of the layer checks is the order of the messages a planner reads
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    sliver_tolerance_m2: float = 1.0,
    skip_unknown_landuse: bool = False,
) -> District:
    """Validate in-memory layers (canonical column names) and return the district.

    The input frames are not modified. ``attrs["source"]`` of a frame, when set, names its
    file in messages.

    Parameters
    ----------
    layers : mapping
        Layer name -> GeoDataFrame with gridgeo's column names (see :mod:`gridgeo.schema`).
    sliver_tolerance_m2 : float
        See :func:`load_district`.
    skip_unknown_landuse : bool
        A land-use polygon of an unknown class is left out with a located warning (rule
        ``input.landuse``) instead of refusing the run.

    Returns
    -------
    District
        Layers reprojected to a metric CRS, with the warnings in ``findings``.

    Raises
    ------
    InputError
        With every error found.
    """
    col = _Collector()
    for need in ("communities", "buildings"):
        if need not in layers:
            col.error("input", None, _("the {name} layer is required").format(name=need))
    if col.errors:
        raise InputError(col.errors)

    labels = {n: g.attrs.get("source", n) for n, g in layers.items()}
    clean: dict[str, gpd.GeoDataFrame] = {}
    for name, gdf in layers.items():
        if name not in LAYERS:
            col.error(labels[name], None, _("unknown layer name {name!r}").format(name=name))
            continue
        out = _check_layer(gdf.copy(), name, labels[name], col, skip_unknown=skip_unknown_landuse)
        if out is not None:
            clean[name] = out
    # Errors in ids, counts or classes do not stop the checks across layers (codes, overlaps,
    # strays), so that one pass reports them all; a missing CRS or unusable geometry does.
    if col.blocking or not {"communities", "buildings"} <= clean.keys():
        raise InputError(col.errors)

    # One CRS for all: the communities' one; others are reprojected with a warning.
    ref = CRS.from_user_input(clean["communities"].crs)
    for name, gdf in clean.items():
        if not CRS.from_user_input(gdf.crs).equals(ref):
            col.warn("input.crs", labels[name], None,
                     _("layer is in {crs}, the communities in {ref}: reprojected to the communities' CRS").format(
                         crs=CRS.from_user_input(gdf.crs).name, ref=ref.name))  # fmt: skip
            clean[name] = gdf.to_crs(ref)

    work = metric_crs(clean["communities"])
    for name in clean:
        clean[name] = clean[name].to_crs(work)
    # Community outlines are kept as given, only rounded to 1 µm (they were rounded to 1 cm,
    # which left slivers of up to 7 mm, up to 20 m² per village, between a community's grids and
    # its input polygon); the rounding makes the reprojection noise (1e-10 m) exact, so that
    # edges meant to coincide (a community's and a grid's, in the audit) do.
    c = clean["communities"]
    clean["communities"] = c.set_geometry(snap(c.geometry.values, 1e-6))

    com = _check_communities(clean["communities"], labels["communities"], col, sliver_tolerance_m2)
    bld = _locate_buildings(clean["buildings"], com, labels["buildings"], col)
    empty_poly = gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=work)}, crs=work)
    landuse = clean.get("landuse")
    if landuse is None:
        landuse = gpd.GeoDataFrame(
            {"landuse_id": pd.Series(dtype=str), "landuse_class": pd.Series(dtype=str),
             "category": pd.Series(dtype=str), "name": pd.Series(dtype=str)},
            geometry=gpd.GeoSeries([], crs=work), crs=work)  # fmt: skip
    if col.errors:
        raise InputError(col.errors)

    findings = empty_findings(work)
    if col.warnings:
        rows = []
        for w in col.warnings:
            geom = w.pop("geometry")
            crs = w.pop("_crs")
            if geom is not None and crs is not None and not CRS.from_user_input(crs).equals(work):
                geom = gpd.GeoSeries([geom], crs=crs).to_crs(work).iloc[0]
            rows.append({**w, "geometry": geom})
        findings = gpd.GeoDataFrame(rows, columns=[*FINDING_COLUMNS, "geometry"], geometry="geometry", crs=work)
    return District(
        communities=com.reset_index(drop=True),
        buildings=bld.reset_index(drop=True),
        landuse=landuse.reset_index(drop=True),
        roads=clean.get("roads", empty_poly).reset_index(drop=True),
        rivers=clean.get("rivers", empty_poly).reset_index(drop=True),
        grids=clean["grids"].reset_index(drop=True) if "grids" in clean else None,
        crs=ref,
        findings=findings,
        sources=labels,
    )


def _check_layer(  # noqa: C901 - one branch per defect class of a layer, collected before raising (split from 33 to 22)
    gdf: gpd.GeoDataFrame, name: str, label: str, col: _Collector, *, skip_unknown: bool = False
) -> gpd.GeoDataFrame | None:
    spec = LAYERS[name]
    if len(gdf) == 0:
        if name in ("communities", "buildings"):
            col.error(label, None, _("the {name} layer is empty: it has no features").format(name=name))
            return None
        col.warn("input.empty", label, None, _("the {name} layer is empty and is ignored").format(name=name))
        return None
    if gdf.crs is None:
        col.error(label, None, _("has no CRS (coordinate reference system): define it in the file, "
                  "e.g. EPSG:4490 for CGCS2000 longitude/latitude or EPSG:4549 for CGCS2000 Gauss–Krüger CM 120°E"),
                  blocking=True)  # fmt: skip
    missing = [c for c in spec.required if c not in gdf.columns]
    if missing:
        col.error(label, None, _("missing column(s) {missing}; the file has {present}; map yours with "
                  "--map {first}=YOUR_COLUMN or a config file").format(
                      missing=", ".join(missing), first=missing[0],
                      present=", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)))  # fmt: skip
        return None

    # Ids: generated from the row when absent, and unique.
    idc = spec.id_column
    if idc not in gdf.columns:
        gdf[idc] = [f"{name}-{i + 1}" for i in range(len(gdf))]
    ids = gdf[idc]
    if idc == "community_code":
        ids = _codes_text(ids, label=label, col=col)
    elif _all_text(ids):
        ids = ids.astype(object)
    else:
        ids = ids.map(lambda v: "" if _isnull(v) else (str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v)))
    gdf[idc] = ids
    blank = ids[ids == ""]
    for i in blank.index[:20]:
        col.error(label, f"row {i + 1}", _("{column} is empty").format(column=idc))
    dup = ids[ids.duplicated(keep=False) & (ids != "")]
    for value in sorted(set(dup))[:20]:
        rows = ", ".join(str(i + 1) for i in dup.index[dup == value][:5])
        col.error(label, value, _("duplicate {column} (rows {rows}): ids must be unique").format(column=idc, rows=rows))

    # The reverse: longitude/latitude of China declared as a metric CRS would put every feature
    # within a few hundred metres of the false origin; one located hint instead of one line each.
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).is_projected:
        x0, y0, x1, y1 = (float(v) for v in gdf.geometry.total_bounds)
        if 73 <= x0 <= x1 <= 136 and 3 <= y0 <= y1 <= 54:
            col.error(label, None, _("coordinates look like longitude/latitude (x {x0:.4f} to {x1:.4f}, "
                      "y {y0:.4f} to {y1:.4f}) but the CRS is {crs}, in metres: declare EPSG:4490 (CGCS2000) "
                      "or EPSG:4326 (WGS 84) in the file").format(
                          x0=x0, x1=x1, y0=y0, y1=y1, crs=CRS.from_user_input(gdf.crs).name), blocking=True)  # fmt: skip
            return None

    # Projected coordinates under a longitude/latitude CRS (GeoJSON without a "crs" member is
    # read as WGS 84 by the standard) cannot be reprojected: refuse before they reach pyproj.
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).is_geographic:
        b = gdf.geometry.bounds
        off = ids[(b["minx"] < -180) | (b["maxx"] > 180) | (b["miny"] < -90) | (b["maxy"] > 90)]
        if len(off):
            col.error(label, None, _("{n} feature(s) (first: id {first}) have coordinates outside "
                      "longitude/latitude, yet the CRS is {crs}: the file is probably in a projected CRS "
                      "(metres); declare it in the file (a GeoJSON without a 'crs' member is read as WGS 84 "
                      "longitude/latitude)").format(n=len(off), first=off.iloc[0], crs=CRS.from_user_input(gdf.crs).name),
                      blocking=True)  # fmt: skip

    # Geometry: present, of the right family, valid (repaired) or refused.
    geoms = gdf.geometry.values
    fam_ok = set(spec.geometry)
    arr = np.asarray(geoms)
    types = shapely.get_type_id(arr)
    family_of_id = {n.upper(): f for n, f in _FAMILY.items()}  # shapely.GeometryType names
    ok_types = [int(t) for t in shapely.GeometryType if family_of_id.get(t.name) in fam_ok]
    suspect = np.flatnonzero(shapely.is_missing(arr) | shapely.is_empty(arr) | ~np.isin(types, ok_types))
    for i in suspect:  # only the features with a problem are looked at one by one
        fid, g = ids.iloc[i], arr[i]
        if g is None or shapely.is_empty(g):
            col.error(label, fid or f"row {i + 1}", _("has no geometry"), blocking=True)
            continue
        fam = _FAMILY.get(g.geom_type)
        if fam not in fam_ok:
            col.error(label, fid, _("geometry is {type}; the {name} layer needs {allowed}").format(
                type=g.geom_type, name=name, allowed=_(" or ").join(sorted(fam_ok))), blocking=True)  # fmt: skip
    gdf, ids = _repair_geometry(gdf, ids, name, label, col)

    if name == "buildings":
        for c in ("households", "residents"):
            gdf[c] = _check_counts(gdf[c], ids, c, label, col)
        if "community_code" in gdf.columns:
            gdf["community_code"] = _codes_text(gdf["community_code"], label=label, col=col)
        bad = gdf[(gdf["residents"] < gdf["households"]) & (gdf["households"] >= 0)]
        for fid, g in zip(bad["building_id"][:50], bad.geometry[:50], strict=False):
            col.warn("input.counts", label, fid, _("fewer residents than households: check the census counts"), g, gdf.crs)
    if name == "landuse":
        gdf = _check_landuse(gdf, ids, label, col, skip_unknown)
        if gdf is None:
            return None
    keep = [spec.id_column, *spec.required, *[c for c in spec.optional if c in gdf.columns]]
    if name == "landuse":
        keep.append("category")
    keep = list(dict.fromkeys(keep))
    return gdf[[*keep, gdf.geometry.name]].rename_geometry("geometry") if gdf.geometry.name != "geometry" else gdf[[*keep, "geometry"]]


def _repair_geometry(gdf, ids, name: str, label: str, col: _Collector):
    """Repair invalid geometries with make_valid (a warning each); refuse what collapses.

    A building that collapses to no area and holds no household is dropped with a warning
    (OSM's degenerate ways) instead of refusing the run.
    """
    geoms = gdf.geometry.values
    idc = LAYERS[name].id_column
    finite = _finite_rows(geoms)
    for i in np.flatnonzero(~finite):
        col.error(label, ids.iloc[i], _("non-finite coordinate (inf or nan) in the geometry: "
                  "refused, because no shape can be drawn through it; fix the coordinates"), blocking=True)  # fmt: skip
    valid = shapely.is_valid(geoms) | ~finite
    drop: list[int] = []
    if not valid.all():
        new = list(geoms)
        for i in np.flatnonzero(~valid):
            g = geoms[i]
            if g is None or shapely.is_empty(g):
                continue
            reason = shapely.is_valid_reason(g)
            fixed = shapely.make_valid(g)
            if _FAMILY.get(g.geom_type) == "Polygon":
                fixed = _polygonal(fixed)
                if (fixed is None or fixed.area <= 0) and name == "buildings" and _no_households(gdf, i):
                    drop.append(i)
                    col.warn("input.geometry", label, ids.iloc[i], _("degenerate building ({reason}) with no "
                             "households dropped: it has no area and holds no one").format(reason=reason),
                             g, gdf.crs)  # fmt: skip
                    continue
                added = _land_added(g, fixed)
                if added > 0:
                    col.error(label, ids.iloc[i], _("invalid polygon ({reason}): the repair would add {area} of land "
                              "outside the drawn outline (e.g. a hole drawn outside its shell); refused, because "
                              "area-changing repairs are not made silently; redraw it").format(
                                  reason=reason, area=_area_text(added, gdf.crs)), blocking=True)  # fmt: skip
                    continue
                if fixed is None or fixed.area <= 0:
                    col.error(label, ids.iloc[i], _("invalid polygon ({reason}) collapses to no area when repaired: "
                              "refused, because a polygon with no area can hold no building and tile no land; "
                              "redraw it").format(reason=reason), blocking=True)  # fmt: skip
                    continue
            new[i] = fixed
            col.warn("input.geometry", label, ids.iloc[i],
                     _("invalid geometry ({reason}) repaired with make_valid; check the shape").format(reason=reason),
                     fixed, gdf.crs)  # fmt: skip
        gdf = gdf.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))
        if drop:
            gdf = gdf.drop(index=gdf.index[drop])
            ids = gdf[idc]
    return gdf, ids


def _land_added(g, fixed) -> float:
    """Area of ``fixed`` outside the outer rings of ``g`` (0 for a bow-tie or duplicate vertices).

    Differences below a millionth of the outline's area are rounding and count as 0.
    """
    if fixed is None or shapely.is_empty(fixed):
        return 0.0
    parts = shapely.get_parts(g)
    shells = shapely.make_valid(shapely.union_all([shapely.Polygon(p.exterior) for p in parts]))
    shells = _polygonal(shells)
    outline = 0.0 if shells is None else shells.area
    added = fixed.area if shells is None else shapely.difference(fixed, shells).area
    return float(added) if added > max(1e-6 * outline, 1e-9) else 0.0


def _area_text(area: float, crs) -> str:
    """An area in the CRS's unit: m² for a projected CRS, square degrees otherwise."""
    if crs is not None and CRS.from_user_input(crs).is_geographic:
        return _("{area:.3g} square degrees").format(area=area)
    return _("{area:.2f} m²").format(area=area)


def _finite_rows(geoms) -> np.ndarray:
    """Whether each geometry's coordinates are all finite (GEOS fails on inf and nan)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    finite = np.ones(len(geoms), dtype=bool)
    finite[np.unique(index[bad])] = False
    return finite


def _check_landuse(gdf, ids, label: str, col: _Collector, skip_unknown: bool):
    """Land-use classes to gridgeo's (OSM values included); unknown ones refused or skipped."""
    cls = gdf["landuse_class"].map(normalise_landuse_class)
    unknown = cls.isna()
    for fid, raw, g in zip(ids[unknown], gdf["landuse_class"][unknown], gdf.geometry[unknown], strict=True):
        if skip_unknown:
            col.warn("input.landuse", label, fid, _("unknown landuse_class {value!r}: polygon left out "
                     "(--skip-unknown-landuse)").format(value=raw), g, gdf.crs)  # fmt: skip
        else:
            col.error(label, fid, _("unknown landuse_class {value!r}; use one of {classes}, their Chinese names "
                      "or OpenStreetMap values, or skip such polygons with --skip-unknown-landuse").format(
                          value=raw, classes=", ".join(sorted(ABSORBABLE | DEDICATED))))  # fmt: skip
    if skip_unknown and unknown.any():
        gdf, cls = gdf[~unknown].copy(), cls[~unknown]
        if gdf.empty:
            return None
    gdf["landuse_class"] = cls
    gdf["category"] = np.where(cls.isin(list(DEDICATED)), "dedicated", "absorbable")
    if "name" not in gdf.columns:
        gdf["name"] = ""
    gdf["name"] = gdf["name"].fillna("").astype(str)
    return gdf


def _no_households(gdf: gpd.GeoDataFrame, i: int) -> bool:
    """Whether row ``i`` of a buildings layer holds no households (0 or missing)."""
    v = pd.to_numeric(pd.Series([gdf["households"].iloc[i]]), errors="coerce").iloc[0]
    return bool(pd.isna(v) or v == 0)


def _isnull(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _all_text(values: pd.Series) -> bool:
    """Every value is a str (no missing value, no number)."""
    return bool(values.notna().all()) and pd.api.types.infer_dtype(values, skipna=False) == "string"


def _codes_text(
    values: pd.Series, *, label: str | None = None, col: _Collector | None = None
) -> pd.Series:
    r""":func:`_code_text` over a column (vectorised when the column is all text).

    Full-width (``３７０２…``) or other non-ASCII digits are refused, located by row: they look
    like a code and pass a ``\d`` test, but no registry or system downstream reads them.
    The problems go to ``col`` when given, else they are raised at once.

    Raises
    ------
    InputError
        Without ``col``: one problem per code with non-ASCII digits.
    """
    text = values.astype(object).str.strip() if _all_text(values) else values.map(_code_text)
    foreign = text.map(lambda v: any(ch.isdecimal() and not ch.isascii() for ch in v))
    if not foreign.any():
        return text
    source = label or values.attrs.get("source") or str(values.name or "input")
    problems = []
    for pos in np.flatnonzero(foreign.to_numpy()):
        raw = text.iloc[pos]
        ascii_form = "".join(str(unicodedata.decimal(ch, ch)) if ch.isdecimal() else ch for ch in raw)
        problems.append(Problem(source, f"row {pos + 1}", _("{column} {value!r} is written in full-width or "
                                "other non-ASCII digits: write it in ASCII digits 0-9 ({ascii!r})").format(
                                    column=values.name or "code", value=raw, ascii=ascii_form)))  # fmt: skip
    if col is None:
        raise InputError(problems)
    col.errors.extend(problems)
    return text


def _code_text(v: object) -> str:
    """Return a division code as text, undoing the float/int a spreadsheet made of it."""
    if _isnull(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _polygonal(g):
    if g is None:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.union_all(parts)


#: The most households and residents one building may hold, by default: a 60-floor tower of
#: 40 flats is 2,400 households. A larger count is a total, or a code typed into the column.
MAX_PER_BUILDING: dict[str, int] = {"households": 5000, "residents": 20000}


def _check_counts(
    values: pd.Series, ids: pd.Series, column: str, label: str, col: _Collector,
    *, ceiling: float | None = None, per: str = "building",
) -> pd.Series:  # fmt: skip
    """Check a count column; return it as int64 (0 where it is refused).

    Refused, located by feature: missing, text, yes/no (boolean), infinite, negative,
    fractional values and values above ``ceiling`` (default :data:`MAX_PER_BUILDING`), which
    also catches counts that would overflow 64-bit integers. ``per`` names what one row counts
    (a building, or a community for census totals) in the message on the ceiling.
    """
    ceiling = MAX_PER_BUILDING.get(column, np.inf) if ceiling is None else ceiling
    if pd.api.types.is_bool_dtype(values):
        col.error(label, None, _("{column} is a yes/no (boolean) column, not a count: map the column "
                  "that holds the {column} (--map {column}=COLUMN)").format(column=column))  # fmt: skip
        return pd.Series(0, index=values.index, dtype="int64")
    flags = values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
    num = pd.to_numeric(values.where(~flags, None), errors="coerce")
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = flags | ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr)) | (arr > ceiling)
    # Only the rows with a problem are looked at one by one, in file order.
    for fid, raw, v, flag in zip(ids[bad], values[bad], arr[bad], flags[bad], strict=True):
        shown = repr(raw) if isinstance(raw, str) else str(raw)
        if flag:
            msg = _("{column} is {value}, a yes/no value, not a count")
        elif _isnull(raw):
            msg = _("{column} is missing: give a whole number ≥ 0")
        elif np.isnan(v):
            msg = _("{column} is {raw!r}, not a number")
        elif np.isinf(v) and v > 0:
            msg = _("{column} is infinite ({value}): give a whole number ≥ 0")
        elif v < 0:
            msg = _("{column} is negative ({number:g})")
        elif not float(v).is_integer():
            msg = _("{column} is {number:g}, not a whole number")
        elif per == "community":
            msg = _("{column} is {value} for one community, more than the {ceiling:g} a community may "
                    "hold: check the value (a total, or a code in the count column?)")  # fmt: skip
        else:
            msg = _("{column} is {value} for one building, more than the {ceiling:g} a building may "
                    "hold: check the value (a total, or a code in the count column?)")  # fmt: skip
        col.error(label, fid, msg.format(column=column, value=shown, raw=raw, number=v, ceiling=ceiling))
    return pd.Series(np.where(bad, 0.0, arr).round().astype("int64"), index=values.index)


def _check_communities(com: gpd.GeoDataFrame, label: str, col: _Collector, tol: float) -> gpd.GeoDataFrame:
    table = load_divisions()
    for code in com["community_code"]:
        if not code:
            continue
        for msg in division_code_problems(code):
            col.error(label, code, msg)
    if "name" not in com.columns:
        com["name"] = ""
    com["name"] = com["name"].fillna("").astype(str)
    for code, name, g in zip(com["community_code"], com["name"], com.geometry, strict=True):
        if division_code_problems(code) or not code.startswith("3702"):
            continue
        if code not in table.index:
            col.warn("input.code", label, code, _("code not in the NBS 2016 table of Qingdao divisions: check it"),
                     g, com.crs)  # fmt: skip
        elif name and str(table.at[code, "name"]) != name and not str(table.at[code, "name"]).startswith(name):
            col.warn("input.code", label, code,
                     _("name {name!r} differs from the NBS table's {table!r}").format(
                         name=name, table=table.at[code, "name"]), g, com.crs)  # fmt: skip
    com["is_village"] = com["community_code"].map(is_village_code)

    # Overlaps between communities: slivers trimmed, real overlaps refused.
    geoms = com.geometry.values
    left, right = com.sindex.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # Neighbours meet along a line; only pairs whose interiors meet overlap (one vectorised
    # test; trimming below only shrinks polygons, so no other pair can come to overlap).
    inner = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    pairs = list(zip(left[inner], right[inner], strict=True))
    new = list(geoms)
    for i, j in pairs:
        inter = shapely.intersection(new[i], new[j])
        area = shapely.area(inter)
        if area <= 0:
            continue
        a, b = com["community_code"].iloc[i], com["community_code"].iloc[j]
        if area > tol:
            col.error(label, a, _("overlaps community {other} by {area:,.1f} m² (tolerance {tol:g} m²): "
                      "communities must not overlap (R2); fix the boundary").format(other=b, area=area, tol=tol))  # fmt: skip
        else:
            new[j] = _polygonal(shapely.difference(new[j], new[i])) or new[j]
            col.warn("input.overlap", label, b, _("sliver overlap of {area:.3f} m² with community {other} trimmed from "
                     "{code}").format(area=area, other=a, code=b), inter, com.crs)  # fmt: skip
    return com.set_geometry(gpd.GeoSeries(new, index=com.index, crs=com.crs))


def _locate_buildings(bld: gpd.GeoDataFrame, com: gpd.GeoDataFrame, label: str, col: _Collector) -> gpd.GeoDataFrame:
    """Give each building the community it lies in; report strays and border straddlers."""
    # One index query: the communities each footprint touches; a building lies in the one
    # holding its representative point (a point on the footprint, so among those touched).
    fb, fc = com.sindex.query(bld.geometry.values, predicate="intersects")
    com_geoms = com.geometry.values
    shapely.prepare(com_geoms)
    inside = shapely.contains(com_geoms[fc], shapely.point_on_surface(bld.geometry.values[fb]))
    codes = np.full(len(bld), "", dtype=object)
    codes[fb[inside]] = com["community_code"].values[fc[inside]]
    # Footprints that cross a community border: assigned to the community holding most of it.
    polys = shapely.get_type_id(bld.geometry.values) >= 3
    counts = pd.Series(fb).value_counts()
    crossing = set(counts.index[counts > 1])
    for b in sorted(crossing):
        if not polys[b]:
            continue
        cands = fc[fb == b]
        areas = [shapely.area(shapely.intersection(bld.geometry.values[b], com.geometry.values[c])) for c in cands]
        if sum(a > 0 for a in areas) < 2:
            continue
        best = cands[int(np.argmax(areas))]
        codes[b] = com["community_code"].values[best]
        others = [com["community_code"].values[c] for c, a in zip(cands, areas, strict=True) if a > 0 and c != best]
        col.warn("input.border", label, bld["building_id"].iloc[b],
                 _("building crosses the border of community {code} and {others}: counted in {code}, which "
                   "holds most of it").format(code=codes[b], others=", ".join(others)),
                 bld.geometry.values[b], bld.crs)  # fmt: skip
    # A representative point exactly on a shared edge or vertex lies in no interior: it goes to
    # the lowest community code among those whose boundary holds it (deterministic, no finding).
    stray = codes[fb] == ""
    if stray.any():
        on_edge = shapely.covers(com_geoms[fc[stray]], shapely.point_on_surface(bld.geometry.values[fb[stray]]))
        for b, c in zip(fb[stray][on_edge], fc[stray][on_edge], strict=True):
            code = com["community_code"].values[c]
            if codes[b] == "" or code < codes[b]:
                codes[b] = code
    for b in np.flatnonzero(codes == ""):
        g = bld.geometry.values[b]
        col.error(label, bld["building_id"].iloc[b],
                  _("building lies outside every community (at {where}): its {n} households would belong to "
                    "no grid; fix the community boundary or the building").format(
                        where=_lonlat(g, bld.crs), n=int(bld["households"].iloc[b])))  # fmt: skip
    if "community_code" in bld.columns:
        given = bld["community_code"].fillna("").astype(str).values
        for b in np.flatnonzero((given != "") & (given != codes) & (codes != "")):
            col.warn("input.code", label, bld["building_id"].iloc[b],
                     _("building says community {given} but lies in {code}: counted where it lies").format(
                         given=given[b], code=codes[b]),
                     bld.geometry.values[b], bld.crs)  # fmt: skip
    out = bld.copy()
    out["community_code"] = codes
    keep = ["building_id", "households", "residents", "community_code"]
    if "households_estimated" in out.columns:
        out["households_estimated"] = out["households_estimated"].fillna(False).astype(bool)
        keep.append("households_estimated")
    return out[[*keep, "geometry"]]


def _lonlat(g, crs) -> str:
    pt = gpd.GeoSeries([shapely.point_on_surface(g)], crs=crs).to_crs(4326).iloc[0]
    return f"{pt.x:.6f}, {pt.y:.6f}"


def summarise(district: District) -> pd.DataFrame:
    """Count buildings, households and residents per community, with a total row.

    Parameters
    ----------
    district : District

    Returns
    -------
    pandas.DataFrame
        One row per community (code, name, village or not, buildings, households,
        residents, area in km², land-use polygons touching it) and a final ``TOTAL`` row.
    """
    b = district.buildings.groupby("community_code").agg(
        buildings=("building_id", "size"), households=("households", "sum"), residents=("residents", "sum")
    )
    c = district.communities[["community_code", "name", "is_village"]].copy()
    c["area_km2"] = (district.communities.geometry.area / 1e6).round(3).values
    out = c.merge(b, left_on="community_code", right_index=True, how="left").fillna(
        {"buildings": 0, "households": 0, "residents": 0}
    )
    if len(district.landuse):
        j = gpd.sjoin(district.landuse[["category", "geometry"]], district.communities[["community_code", "geometry"]],
                      predicate="intersects")  # fmt: skip
        lu = j.groupby(["community_code", "category"]).size().unstack(fill_value=0)
        for cat in ("absorbable", "dedicated"):
            out[f"{cat}_landuse"] = out["community_code"].map(lu[cat] if cat in lu else {}).fillna(0).astype(int)
    for k in ("buildings", "households", "residents"):
        out[k] = out[k].astype(int)
    out = out.sort_values("community_code").reset_index(drop=True)
    total = out.drop(columns=["community_code", "name", "is_village"]).sum(numeric_only=True)
    total_row = {"community_code": "TOTAL", "name": f"{len(out)} communities", "is_village": int(out["is_village"].sum()), **total}
    out = pd.concat([out, pd.DataFrame([total_row])], ignore_index=True)
    for k in ("buildings", "households", "residents"):
        out[k] = out[k].astype(int)
    return out


def _floor_area(buildings: gpd.GeoDataFrame, levels_column: str, default_levels: float) -> np.ndarray:
    """Footprint area (m², in a metric CRS) × levels per building; points count as no area."""
    metric = buildings.geometry
    if metric.crs is not None and not (metric.crs.is_projected):
        metric = metric.to_crs(metric_crs(buildings))
    area = shapely.area(metric.values)
    if levels_column in buildings.columns:
        levels = pd.to_numeric(buildings[levels_column], errors="coerce").to_numpy(dtype=float)
        levels = np.where(np.isnan(levels) | (levels <= 0), default_levels, levels)
    else:
        levels = np.full(len(buildings), float(default_levels))
    return area * levels


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    floor_area_m2: float = 70.0,
    levels_column: str = "levels",
    default_levels: float = 1.0,
    household_size: float = 2.5,
) -> gpd.GeoDataFrame:
    """Estimate missing household and resident counts of buildings from their footprints.

    households = round(footprint area × levels ÷ ``floor_area_m2``), residents =
    round(households × ``household_size``). Only missing counts (no column, or an empty cell)
    are estimated; every estimated row is marked ``households_estimated`` so that outputs can
    say which counts are real.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints (any CRS with one; the area is taken in a metric CRS); optional
        ``households``, ``residents`` and ``levels_column``. Not modified.
    floor_area_m2 : float
        Floor area per household (m²).
    levels_column : str
        Column holding the number of storeys (OSM ``building:levels``).
    default_levels : float
        Storeys where the column is absent or empty.
    household_size : float
        Residents per household.

    Returns
    -------
    GeoDataFrame
        A copy with ``households``, ``residents`` (int) and ``households_estimated`` (bool).

    Raises
    ------
    ValueError
        When ``floor_area_m2`` or ``household_size`` is not positive.
    """
    if floor_area_m2 <= 0 or household_size <= 0:
        raise ValueError("floor_area_m2 and household_size must be positive")
    out = buildings.copy()
    est_hh = np.round(_floor_area(out, levels_column, default_levels) / floor_area_m2)
    given = (
        pd.to_numeric(out["households"], errors="coerce")
        if "households" in out.columns
        else pd.Series(np.nan, index=out.index)
    )
    missing = given.isna().to_numpy()
    hh = np.where(missing, est_hh, given.to_numpy(dtype=float, na_value=np.nan))
    res_given = (
        pd.to_numeric(out["residents"], errors="coerce")
        if "residents" in out.columns
        else pd.Series(np.nan, index=out.index)
    )
    res_missing = res_given.isna().to_numpy()
    res = np.where(
        res_missing, np.round(hh * household_size), res_given.to_numpy(dtype=float, na_value=np.nan)
    )
    out["households"] = hh.astype(np.int64)
    out["residents"] = res.astype(np.int64)
    prior = out["households_estimated"].fillna(False).astype(bool).to_numpy() if (
        "households_estimated" in out.columns
    ) else np.zeros(len(out), dtype=bool)
    out["households_estimated"] = prior | missing | res_missing
    return out


#: Census totals of one community are only bounded by what a 64-bit count can hold exactly.
MAX_PER_COMMUNITY = 2**53


def read_census(path: str | os.PathLike) -> pd.DataFrame:
    """Read census totals per community: ``community_code``, ``households``, ``residents`` (CSV).

    The counts are checked as a buildings layer's are (:func:`_check_counts`): missing, text,
    yes/no, infinite, negative and fractional totals are located errors.

    Parameters
    ----------
    path : path-like
        A UTF-8 CSV (a BOM is accepted); the codes are read as text.

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        When the file cannot be read, lacks a column, or holds a count that is not a whole number ≥ 0.
    """
    label = str(path)
    try:
        df = pd.read_csv(path, dtype={"community_code": str}, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError([Problem(label, None, _("cannot read the census table: {why}").format(why=exc))]) from None
    need = [c for c in ("community_code", "households", "residents") if c not in df.columns]
    if need:
        raise InputError([Problem(label, None, _("missing column(s) {missing}").format(missing=", ".join(need)))])
    col = _Collector()
    for c in ("households", "residents"):
        df[c] = _check_counts(df[c], df["community_code"], c, label, col, ceiling=MAX_PER_COMMUNITY,
                              per="community")  # fmt: skip
    if col.errors:
        raise InputError(col.errors)
    return df


def distribute_census(
    buildings: gpd.GeoDataFrame,
    totals: pd.DataFrame,
    *,
    communities: gpd.GeoDataFrame,
    levels_column: str = "levels",
    default_levels: float = 1.0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Share each community's census households and residents among its buildings by floor area.

    Each community's totals go to the buildings whose representative point lies in it, in
    proportion to footprint area × levels, as whole numbers (largest remainders) whose sum is
    exactly the total. Every such building is marked ``households_estimated``.

    Parameters
    ----------
    buildings : GeoDataFrame
        Footprints (points get no share); not modified.
    totals : DataFrame
        ``community_code``, ``households``, ``residents``.
    communities : GeoDataFrame
        ``community_code`` and polygons, in any CRS (reprojected to the buildings' CRS).
    levels_column, default_levels
        As in :func:`estimate_households`.

    Returns
    -------
    (GeoDataFrame, GeoDataFrame)
        The buildings with ``households``, ``residents`` and ``households_estimated``, and the
        findings (rule ``input.census``): a community with a total and no building with floor
        area to hold it.
    """
    out = buildings.copy()
    com = communities.to_crs(out.crs) if communities.crs != out.crs else communities
    pts = shapely.point_on_surface(out.geometry.values)
    bi, ci = com.sindex.query(pts, predicate="within")
    code = np.full(len(out), "", dtype=object)
    code[bi] = com["community_code"].to_numpy()[ci]
    floor = _floor_area(out, levels_column, default_levels)
    hh = np.zeros(len(out), dtype=np.int64)
    rs = np.zeros(len(out), dtype=np.int64)
    estimated = np.zeros(len(out), dtype=bool)
    rows = []
    for c, h_total, r_total in zip(
        totals["community_code"].astype(str), totals["households"], totals["residents"], strict=True
    ):
        idx = np.flatnonzero((code == c) & (floor > 0))
        if not len(idx):
            if int(h_total) or int(r_total):
                geom = com.geometry.values[com["community_code"].to_numpy() == c]
                lon = lat = None
                if len(geom) and out.crs is not None:
                    pt = gpd.GeoSeries([shapely.point_on_surface(geom[0])], crs=out.crs).to_crs(4326).iloc[0]
                    lon, lat = round(pt.x, 6), round(pt.y, 6)
                rows.append({"rule": "input.census", "severity": "warning", "source": "census",
                             "feature_id": c, "message": _("community {code} has {n} households in the census "
                             "but no building with floor area to hold them").format(code=c, n=int(h_total)),
                             "lon": lon, "lat": lat,
                             "geometry": geom[0] if len(geom) else None})  # fmt: skip
            continue
        hh[idx] = _largest_remainder(floor[idx], int(h_total))
        rs[idx] = _largest_remainder(floor[idx], int(r_total))
        estimated[idx] = True
    out["households"] = hh
    out["residents"] = rs
    out["households_estimated"] = estimated
    findings = (
        gpd.GeoDataFrame(rows, columns=[*FINDING_COLUMNS, "geometry"], geometry="geometry", crs=out.crs)
        if rows
        else empty_findings(out.crs)
    )
    return out, findings


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Whole shares of ``total`` proportional to ``weights``, summing exactly to it."""
    exact = weights / weights.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - base)))
    base[order[:rest]] += 1
    return base
