"""The rules a grid layer must obey, one small check function each (R1–R5, R8).

Each check takes a :class:`GridLayer` (the grids prepared in the district's metric CRS) and
returns a list of findings (dicts: ``rule``, ``severity``, ``defect``, ``grid_id``,
``community_code``, ``related_id``, ``message``, ``geometry`` in the metric CRS). They are
composed by :func:`gridgeo.coverage.check_coverage` (the proof) and by
:func:`gridgeo.coverage.audit_grids` (the audit of a hand-drawn layer), and can be called
on their own.

All areas are in m², all lengths in m.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridgeo.district import District
from gridgeo.i18n import N_, _
from gridgeo.options import Band
from gridgeo.schema import check_grid_layer
from gridgeo.units import MIN_SHARED_M, UnitOptions, Units

BLOCKING = "blocking"
WARNING = "warning"

#: What each rule asks, for reports.
RULES = {
    "R1": N_("households per grid within the band (300–500 by default)"),
    "R2": N_("every grid inside one community or village"),
    "R3": N_("unpopulated land (mountain, water, sites...) absorbed into grids"),
    "R4": N_("dedicated units (schools, hospitals, parks...) are dedicated grids"),
    "R5": N_("full coverage: no gap, no overlap, one valid connected polygon per grid, every building in one grid"),
    "R8": N_("every grid carries a valid, unique 19-digit code of its community"),
}

#: Flags of the partitioner that explain an out-of-band grid (a warning, not blocking).
BAND_REASONS = {
    "oversize_unit": N_("one unit alone holds more than the upper bound"),
    "below_band": N_("the community (or a separate part of it) holds fewer than the lower bound"),
    "village_below_band": N_("a village below the lower bound is one grid (allowed by R2)"),
    "band_widened": N_("no whole number of grids fits the band here; the nearest number was used"),
    "no_households": N_("an area with no households that touches no other grid"),
}


@dataclass
class GridLayer:
    """A grid layer prepared for checking: metric CRS, ids, home communities, buildings.

    Build it with :func:`prepare`; the caller's frame is not modified.

    Attributes
    ----------
    grids : GeoDataFrame
        A copy of the layer in the metric CRS, index 0..n-1.
    ids : ndarray of str
        ``grid_id`` of each row (``row N`` when missing).
    geoms : ndarray of shapely geometries
        Valid polygonal geometry of each row (``make_valid``; None when empty).
    home : ndarray of str
        The community holding most of each grid (``""`` when none).
    grid_class : ndarray of str
        ``community`` or ``dedicated`` (given, or inferred from dedicated land use).
    district : District
    building_grid : ndarray of int
        Row of the grid holding each building of ``district.buildings`` (-1 when none).
    building_hits : ndarray of int
        How many grids hold each building's representative point in their interior.
    building_points : ndarray of shapely Points
        The point each building is judged at: inside its footprint, and inside its own
        community when the footprint spills out of it.
    raw : ndarray of shapely geometries
        The geometries as delivered, in ``input_crs``.
    input_crs : pyproj.CRS
    """

    grids: gpd.GeoDataFrame
    ids: np.ndarray
    geoms: np.ndarray
    home: np.ndarray
    grid_class: np.ndarray
    district: District
    building_grid: np.ndarray
    building_hits: np.ndarray
    raw: np.ndarray
    input_crs: CRS
    building_points: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    _cache: dict = field(default_factory=dict)

    @property
    def crs(self) -> CRS:
        """The metric CRS of the checks."""
        return self.district.work_crs

    @property
    def jurisdiction(self):
        """The union of the communities (the area the grids must tile)."""
        if "jurisdiction" not in self._cache:
            self._cache["jurisdiction"] = shapely.union_all(
                self.district.communities.geometry.values
            )
        return self._cache["jurisdiction"]

    @property
    def covered(self):
        """The union of the grids."""
        if "covered" not in self._cache:
            g = self.geoms[np.array([x is not None for x in self.geoms], dtype=bool)]
            self._cache["covered"] = shapely.union_all(g) if len(g) else shapely.Polygon()
        return self._cache["covered"]

    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index of the grids (None entries for empty grids)."""
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.geoms)
        return self._cache["tree"]

    def counts(self, measure: str) -> np.ndarray:
        """``measure`` (households or residents) of the buildings each grid holds."""
        b = self.district.buildings
        out = np.zeros(len(self.ids), dtype=np.int64)
        ok = self.building_grid >= 0
        np.add.at(out, self.building_grid[ok], b[measure].to_numpy(dtype=np.int64)[ok])
        return out


def prepare(grids: gpd.GeoDataFrame, district: District, *, source: str = "grids") -> GridLayer:
    """Project a grid layer to the district's metric CRS and locate its grids and buildings.

    Parameters
    ----------
    grids : GeoDataFrame
        Polygons with ``grid_id`` (optional: ``community_code``, ``grid_class``, ``flag``,
        ``grid_code``, ``households``). Not modified.
    district : District
        The validated district the grids must cover.
    source : str
        Name of the layer in messages.

    Returns
    -------
    GridLayer

    Raises
    ------
    InputError
        When the layer has no CRS or no geometry column.
    """
    check_grid_layer(grids, source=source)
    g = grids.to_crs(district.work_crs).reset_index(drop=True)
    n = len(g)
    if "grid_id" in g.columns:
        ids = np.array(
            [text_value(v) or f"row {i + 1}" for i, v in enumerate(g["grid_id"])], dtype=object
        )
    else:
        ids = np.array([f"row {i + 1}" for i in range(n)], dtype=object)
    geoms = np.array([polygonal_part(x) for x in g.geometry.values], dtype=object)
    home = _home_communities(geoms, district.communities)
    b = district.buildings
    bpts = shapely.point_on_surface(b.geometry.values) if len(b) else np.array([], dtype=object)
    bgrid = np.full(len(b), -1, dtype=np.int64)
    hits = np.zeros(len(b), dtype=np.int64)
    raw = grids.geometry.values.copy()
    layer = GridLayer(g, ids, geoms, home, np.array([], dtype=object), district, bgrid, hits, raw,
                      CRS.from_user_input(grids.crs), bpts)  # fmt: skip
    if len(b) and n:
        # A point on a shared edge is in no interior but on both boundaries: take the first.
        bi, gi = layer.tree.query(bpts, predicate="within")
        np.add.at(hits, bi, 1)
        order = np.lexsort((gi, bi))
        bi, gi = bi[order], gi[order]
        first = np.unique(bi, return_index=True)[1]
        bgrid[bi[first]] = gi[first]
        rest = np.flatnonzero(hits == 0)
        if len(rest):
            bi2, gi2 = layer.tree.query(bpts[rest], predicate="intersects")
            order = np.lexsort((gi2, bi2))
            bi2, gi2 = bi2[order], gi2[order]
            first = np.unique(bi2, return_index=True)[1]
            bgrid[rest[bi2[first]]] = gi2[first]
        _place_border_buildings(layer)
    layer.grid_class = _grid_classes(g, geoms, district)
    return layer


def _place_border_buildings(layer: GridLayer) -> None:
    """Judge a building that spills out of its community at a point inside that community.

    Validation counts a building crossing a community border (or larger than its village) in
    the community holding most of it, and the grids of that community hold it; its point on
    the whole footprint may lie outside, in another community's grid or in none. Such a
    building is judged again at a point of its footprint inside its own community, and a
    grid of its own community is preferred among those that point touches, so the proof and
    ``building_grid.csv`` agree; that point becomes the building's ``building_points`` entry.
    """
    b, com = layer.district.buildings, layer.district.communities
    if "community_code" not in b.columns or not len(com):
        return
    codes = b["community_code"].astype(str).to_numpy()
    grid_home = np.asarray(layer.home, dtype=object)
    placed = np.where(layer.building_grid >= 0, grid_home[np.maximum(layer.building_grid, 0)], "")
    com_of = dict(zip(com["community_code"].astype(str), com.geometry.values, strict=True))
    todo = [k for k in np.flatnonzero(placed != codes) if codes[k] in com_of]
    for k in todo:
        part = polygonal_part(shapely.intersection(b.geometry.values[k], com_of[codes[k]]))
        pt = shapely.point_on_surface(part) if part is not None else layer.building_points[k]
        near = layer.tree.query(pt, predicate="intersects")
        own = sorted(int(i) for i in near if grid_home[i] == codes[k])
        if not own:
            continue
        inside = [i for i in own if shapely.contains_properly(layer.geoms[i], pt)]
        layer.building_points[k] = pt
        layer.building_grid[k] = (inside or own)[0]
        layer.building_hits[k] = max(1, len(inside))


def text_value(v) -> str:
    """A cell as stripped text; empty for None, NaN and NA."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    return str(v).strip()


def polygonal_part(geom):
    """The valid polygonal part of a geometry (None when nothing is left)."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    # make_valid may nest a MultiPolygon inside a GeometryCollection: flatten twice.
    parts = [
        p
        for p in shapely.get_parts(shapely.get_parts(geom))
        if p.geom_type == "Polygon" and not p.is_empty
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _significant(geom, min_area: float = 0.01):
    """The polygonal parts of ``geom`` above ``min_area`` (m²): the defect without float dust.

    Hair-thin slivers (under 2 cm wide) that shared edges leave after reprojection are
    opened away, so that the reported shape and its lon/lat point at the defect's body.
    """
    geom = polygonal_part(geom)
    if geom is None:
        return None
    opened = polygonal_part(
        shapely.buffer(shapely.buffer(geom, -0.01, join_style="mitre"), 0.01, join_style="mitre")
    )
    if opened is not None and opened.area >= 0.5 * geom.area:
        geom = opened
    parts = [p for p in shapely.get_parts(geom) if p.area > min_area]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _home_communities(geoms: np.ndarray, communities: gpd.GeoDataFrame) -> np.ndarray:
    """The community holding the largest area of each grid."""
    home = np.full(len(geoms), "", dtype=object)
    if not len(geoms) or not len(communities):
        return home
    cgeoms = communities.geometry.values
    codes = communities["community_code"].to_numpy()
    gi, ci = shapely.STRtree(cgeoms).query(geoms, predicate="intersects")
    if not len(gi):
        return home
    area = shapely.area(shapely.intersection(geoms[gi], cgeoms[ci]))
    order = np.lexsort((ci, -area, gi))
    gi, ci = gi[order], ci[order]
    first = np.unique(gi, return_index=True)[1]
    home[gi[first]] = codes[ci[first]]
    return home


def _grid_classes(g: gpd.GeoDataFrame, geoms: np.ndarray, district: District) -> np.ndarray:
    """``grid_class`` as given, or inferred: a grid mostly (80 %) on dedicated land use is dedicated."""
    if "grid_class" in g.columns:
        given = np.array([text_value(v).lower() for v in g["grid_class"]], dtype=object)
        if set(given) <= {"community", "dedicated"}:
            return given
    out = np.full(len(geoms), "community", dtype=object)
    lu = district.landuse
    if not len(lu) or "category" not in lu.columns:
        return out
    ded = lu[lu["category"] == "dedicated"].geometry.values
    if not len(ded):
        return out
    ded_union = shapely.union_all(ded)
    for i, geom in enumerate(geoms):
        if (
            geom is not None
            and geom.area > 0
            and shapely.intersection(geom, ded_union).area >= 0.8 * geom.area
        ):
            out[i] = "dedicated"
    return out


def finding(
    rule, severity, defect, message, geometry, *, grid_id="", community_code="", related_id=""
) -> dict:
    """One finding as a dict (geometry in the metric CRS)."""
    return {
        "rule": rule, "severity": severity, "defect": defect, "grid_id": grid_id,
        "community_code": community_code, "related_id": related_id, "message": message, "geometry": geometry,
    }  # fmt: skip


def _m2(a: float) -> str:
    return f"{a:,.0f} m²" if a >= 10 else f"{a:.1f} m²"


def _neighbours(layer: GridLayer, geom, exclude: tuple = (), min_shared: float = 0.1) -> list[str]:
    """Ids of the grids sharing more than ``min_shared`` m of border with ``geom``, longest first."""
    near = layer.tree.query(shapely.buffer(geom, 0.05), predicate="intersects")
    near = [i for i in near if layer.ids[i] not in exclude and layer.geoms[i] is not None]
    if not near:
        return []
    shared = shapely.length(
        shapely.intersection(shapely.boundary(layer.geoms[near]), shapely.buffer(geom, 0.05))
    )
    return [
        str(layer.ids[i])
        for _, i in sorted(zip(-shared, near, strict=True))
        if shared[near.index(i)] > min_shared
    ]


# -- R5: each grid a valid connected polygon -------------------------------------------------
_COORD = re.compile(r"\[\s*([-0-9.eE+]+)\s+([-0-9.eE+]+)")


def check_geometry(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list[dict]:
    """Every grid is one valid polygon in one piece (R5).

    Parameters
    ----------
    layer : GridLayer
    tolerance_m2 : float
        Pieces of a grid below this area (m²) are ignored.

    Returns
    -------
    list of dict
        ``empty`` (no geometry), ``invalid`` (located at the self-intersection) and
        ``multipart`` (the pieces apart from the largest) findings, all blocking.
    """
    out = []
    raw = layer.raw
    projected = layer.grids.geometry.values
    for i, gid in enumerate(layer.ids):
        home = layer.home[i]
        geom = raw[i]
        if geom is None or geom.is_empty or layer.geoms[i] is None:
            out.append(finding("R5", BLOCKING, "empty", _("Grid {gid} has no polygon: draw its boundary or delete the row.").format(gid=gid),
                               None, grid_id=gid, community_code=home))  # fmt: skip
            continue
        parts = sorted(shapely.get_parts(layer.geoms[i]), key=lambda p: -p.area)
        loose = [p for p in parts[1:] if p.area > tolerance_m2]
        if not geom.is_valid:
            # Judged as delivered (the caller's CRS): that is the file other software reads.
            reason = shapely.is_valid_reason(geom)
            m = _COORD.search(reason)
            where = (
                shapely.Point(float(m.group(1)), float(m.group(2)))
                if m
                else shapely.point_on_surface(geom)
            )
            where = gpd.GeoSeries([where], crs=layer.input_crs).to_crs(layer.crs).iloc[0]
            what = reason.split("[")[0].strip().lower()
            change = abs(layer.geoms[i].area - shapely.area(projected[i]))
            if change <= tolerance_m2 and not loose:
                out.append(finding("R5", WARNING, "invalid",
                                   _("Grid {gid}'s boundary is not a valid polygon ({what} at the marked point, a "
                                     "degenerate spike or touch): repaired without change of area; save the repaired layer.").format(
                                       gid=gid, what=what),
                                   where, grid_id=gid, community_code=home))  # fmt: skip
            else:
                out.append(finding("R5", BLOCKING, "invalid",
                                   _("Grid {gid}'s boundary is not a valid polygon ({what} at the marked point): redraw it there.").format(
                                       gid=gid, what=what),
                                   where, grid_id=gid, community_code=home))  # fmt: skip
        if loose:
            area = sum(p.area for p in loose)
            out.append(finding("R5", BLOCKING, "multipart",
                               _("Grid {gid} is in {pieces} separate pieces; the {n} smaller one(s) ({area}) should join the grid around "
                                 "them.").format(gid=gid, pieces=len(loose) + 1, n=len(loose), area=_m2(area)),
                               shapely.union_all(loose), grid_id=gid, community_code=home))  # fmt: skip
    return out


# -- R5: no gap, no overlap -----------------------------------------------------------------
def gap_parts(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list:
    """The parts of the jurisdiction no grid covers, larger than ``tolerance_m2`` (m²)."""
    if "gaps" not in layer._cache:
        gaps = shapely.difference(layer.jurisdiction, layer.covered)
        layer._cache["gaps"] = [
            p for p in shapely.get_parts(gaps) if p.geom_type == "Polygon" and p.area > tolerance_m2
        ]
    return layer._cache["gaps"]


def check_gaps(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list[dict]:
    """The grids cover the whole jurisdiction: every gap larger than ``tolerance_m2`` (R5).

    Parameters
    ----------
    layer : GridLayer
    tolerance_m2 : float
        Gaps up to this area (m²) are ignored (digitising noise).

    Returns
    -------
    list of dict
        One blocking ``gap`` finding per uncovered piece, in the community holding it.
    """
    out = []
    com = layer.district.communities
    for gap in gap_parts(layer, tolerance_m2=tolerance_m2):
        home = _home_communities(np.array([gap], dtype=object), com)[0]
        nb = _neighbours(layer, gap)
        beside = _("; it borders grid {grids}").format(grids=", ".join(nb[:3])) if nb else _("; no grid borders it")
        out.append(finding("R5", BLOCKING, "gap",
                           _("{area} of community {home} lie in no grid{beside}: give the area to a grid.").format(
                               area=_m2(gap.area), home=home, beside=beside),
                           gap, grid_id=nb[0] if nb else "", community_code=home))  # fmt: skip
    return out


def check_overlaps(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list[dict]:
    """No two grids share area beyond ``tolerance_m2`` (R5).

    The sum of the grids' areas exceeds the area of their union by the total overlap, so a
    layer that tiles is proved without comparing pairs.

    Returns
    -------
    list of dict
        One blocking ``overlap`` finding per overlapping pair (``grid_id`` and
        ``related_id`` name the two grids).
    """
    ok = np.array([g is not None for g in layer.geoms], dtype=bool)
    if not ok.any():
        return []
    total = float(shapely.area(layer.geoms[ok]).sum())
    if total - layer.covered.area <= tolerance_m2:
        return []
    a, b = layer.tree.query(layer.geoms, predicate="intersects")
    keep = (a < b) & ok[a] & ok[b]
    a, b = a[keep], b[keep]
    inter = shapely.intersection(layer.geoms[a], layer.geoms[b])
    area = shapely.area(inter)
    out = []
    for i, j, geom, ar in zip(a, b, inter, area, strict=True):
        if ar <= tolerance_m2:
            continue
        poly = _significant(geom)
        gi, gj = layer.ids[i], layer.ids[j]
        out.append(finding("R5", BLOCKING, "overlap",
                           _("Grids {gi} and {gj} both claim {area}: the area must belong to one of them.").format(gi=gi, gj=gj, area=_m2(ar)),
                           poly, grid_id=gi, community_code=layer.home[i], related_id=gj))  # fmt: skip
    return out


# -- R2: nesting in communities -------------------------------------------------------------
def check_nesting(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list[dict]:
    """Every grid lies inside one community (R2) and says which one.

    Returns
    -------
    list of dict
        Blocking ``straddle`` (the part in another community), ``outside`` (the part beyond
        every community) and ``wrong_community`` (the ``community_code`` attribute names
        another community than the one the grid lies in) findings.
    """
    com = layer.district.communities
    cgeoms = com.geometry.values
    codes = com["community_code"].to_numpy()
    ok = np.array([g is not None for g in layer.geoms], dtype=bool)
    out = []
    gi, ci = shapely.STRtree(cgeoms).query(layer.geoms, predicate="intersects")
    keep = ok[gi]
    gi, ci = gi[keep], ci[keep]
    inter = shapely.intersection(layer.geoms[gi], cgeoms[ci])
    area = shapely.area(inter)
    inside = np.zeros(len(layer.ids))
    np.add.at(inside, gi, area)
    for i, c, geom, ar in zip(gi, ci, inter, area, strict=True):
        if codes[c] == layer.home[i] or ar <= tolerance_m2:
            continue
        gid = layer.ids[i]
        out.append(finding("R2", BLOCKING, "straddle",
                           _("Grid {gid} of community {home} crosses into community {other} ({area}): a grid must stay inside one "
                             "community; move the boundary to the community line.").format(
                               gid=gid, home=layer.home[i], other=codes[c], area=_m2(ar)),
                           _significant(geom), grid_id=gid, community_code=layer.home[i], related_id=str(codes[c])))  # fmt: skip
    areas = np.array([g.area if g is not None else 0.0 for g in layer.geoms])
    for i in np.flatnonzero(ok & (areas - inside > tolerance_m2)):
        part = _significant(shapely.difference(layer.geoms[i], layer.jurisdiction))
        if part is None or part.area <= tolerance_m2:
            continue
        gid = layer.ids[i]
        out.append(finding("R2", BLOCKING, "outside",
                           _("Grid {gid} reaches {area} beyond the boundary of the communities: trim it to the community line.").format(
                               gid=gid, area=_m2(part.area)),
                           part, grid_id=gid, community_code=layer.home[i]))  # fmt: skip
    if "community_code" in layer.grids.columns:
        for i, given in enumerate(layer.grids["community_code"]):
            given = text_value(given)
            if ok[i] and layer.home[i] and given != layer.home[i]:
                gid = layer.ids[i]
                what = _("says community {given!r}").format(given=given) if given else _("names no community")
                out.append(finding("R2", BLOCKING, "wrong_community",
                                   _("Grid {gid} {what} but lies in community {home}: correct its community_code.").format(
                                       gid=gid, what=what, home=layer.home[i]),
                                   shapely.point_on_surface(layer.geoms[i]), grid_id=gid, community_code=layer.home[i]))  # fmt: skip
    return out


# -- R5: every building in exactly one grid -------------------------------------------------
def check_buildings(layer: GridLayer) -> list[dict]:
    """Every building lies in exactly one grid (R5), judged at a point inside its footprint.

    Returns
    -------
    list of dict
        Blocking ``stray_building`` (in no grid) and ``double_building`` (in two or more
        grids) findings, located at the building.
    """
    b = layer.district.buildings
    out = []
    for k in np.flatnonzero(layer.building_grid < 0):
        bid = str(b["building_id"].iloc[k])
        code = str(b["community_code"].iloc[k]) if "community_code" in b.columns else ""
        out.append(finding("R5", BLOCKING, "stray_building",
                           _("Building {bid} ({n} households) lies in no grid: extend a grid over it.").format(
                               bid=bid, n=int(b["households"].iloc[k])),
                           b.geometry.values[k], community_code=code, related_id=bid))  # fmt: skip
    for k in np.flatnonzero(layer.building_hits > 1):
        bid = str(b["building_id"].iloc[k])
        pt = layer.building_points[k]
        owners = [str(layer.ids[i]) for i in sorted(layer.tree.query(pt, predicate="within"))]
        out.append(finding("R5", BLOCKING, "double_building",
                           _("Building {bid} lies in {n} grids ({grids}): its households would be counted twice.").format(
                               bid=bid, n=len(owners), grids=", ".join(owners)),
                           b.geometry.values[k], grid_id=owners[0], community_code=layer.home[layer.building_grid[k]],
                           related_id=bid))  # fmt: skip
    return out


# -- R3: absorbable land inside grids -------------------------------------------------------
def check_absorbed(layer: GridLayer, *, tolerance_m2: float = 1.0) -> list[dict]:
    """Every absorbable land-use polygon (mountain, water, site...) inside the jurisdiction is in grids (R3).

    Returns
    -------
    list of dict
        One blocking ``unabsorbed`` finding per land-use feature with more than
        ``tolerance_m2`` in no grid (the uncovered part).
    """
    lu = layer.district.landuse
    if not len(lu) or "category" not in lu.columns:
        return []
    gaps = gap_parts(layer, tolerance_m2=tolerance_m2)
    if not gaps:
        return []
    ab = lu[lu["category"] == "absorbable"]
    gap_arr = np.array(gaps, dtype=object)
    li, gi = shapely.STRtree(gap_arr).query(ab.geometry.values, predicate="intersects")
    out = []
    for li_ in np.unique(li):
        part = _significant(
            shapely.intersection(ab.geometry.values[li_], shapely.union_all(gap_arr[gi[li == li_]]))
        )
        if part is None or part.area <= tolerance_m2:
            continue
        row = ab.iloc[li_]
        home = _home_communities(np.array([part], dtype=object), layer.district.communities)[0]
        name = f" '{row['name']}'" if "name" in ab.columns and text_value(row["name"]) else ""
        out.append(finding("R3", BLOCKING, "unabsorbed",
                           _("{cls}{name} ({lid}): {area} lie in no grid; absorb it into the neighbouring grid.").format(
                               cls=row["landuse_class"], name=name, lid=row["landuse_id"], area=_m2(part.area)),
                           part, community_code=home, related_id=str(row["landuse_id"])))  # fmt: skip
    return out


# -- R4: dedicated units are dedicated grids ------------------------------------------------
def dedicated_parts(
    district: District, units: Units | None = None, options: UnitOptions | None = None
) -> gpd.GeoDataFrame:
    """The dedicated land-use parts that must be dedicated grids of their own (R4).

    With the units, those of kind ``dedicated``; without, the dedicated land use clipped to
    each community, one row per piece, keeping pieces at or above the floors of
    :class:`~gridgeo.units.UnitOptions` (smaller ones may lie inside community grids).

    Returns
    -------
    GeoDataFrame
        ``landuse_id``, ``landuse_class``, ``community_code``, geometry (metric CRS).
    """
    cols = ["landuse_id", "landuse_class", "community_code"]
    if units is not None:
        u = units.units
        d = u[u["kind"] == "dedicated"]
        return gpd.GeoDataFrame(
            d[cols].astype(str), geometry=d.geometry.values, crs=u.crs
        ).reset_index(drop=True)
    opts = options or UnitOptions()
    lu = district.landuse
    empty = gpd.GeoDataFrame(
        {c: pd.Series(dtype=str) for c in cols}, geometry=gpd.GeoSeries([], crs=district.work_crs)
    )
    if not len(lu) or "category" not in lu.columns:
        return empty
    ded = lu[lu["category"] == "dedicated"]
    com = district.communities
    li, ci = shapely.STRtree(com.geometry.values).query(ded.geometry.values, predicate="intersects")
    b = district.buildings
    bpts = shapely.point_on_surface(b.geometry.values)
    btree = shapely.STRtree(bpts)
    rows = []
    for i, c in zip(li, ci, strict=True):
        clip = shapely.intersection(ded.geometry.values[i], com.geometry.values[c])
        for p in shapely.get_parts(clip):
            if p.geom_type != "Polygon" or p.area <= 0.01:
                continue
            hh = int(b["households"].to_numpy()[btree.query(p, predicate="contains")].sum())
            if p.area >= opts.dedicated_min_area_m2 or hh >= opts.dedicated_min_households:
                rows.append({"landuse_id": str(ded["landuse_id"].iloc[i]), "landuse_class": str(ded["landuse_class"].iloc[i]),
                             "community_code": str(com["community_code"].iloc[c]), "geometry": p})  # fmt: skip
    if not rows:
        return empty
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=district.work_crs)


def check_dedicated(
    layer: GridLayer, *, units: Units | None = None, tolerance_m2: float = 1.0, share: float = 0.01
) -> list[dict]:
    """Every dedicated unit (school, hospital, park...) is a dedicated grid or inside one (R4).

    Parameters
    ----------
    layer : GridLayer
    units : Units, optional
        The units the grids were made of (exact dedicated parts); without them the parts
        are derived from the land use with the default floors.
    tolerance_m2 : float
        Area (m²) of a dedicated part allowed outside dedicated grids ...
    share : float
        ... or this share of the part, whichever is larger (digitising along a fence).

    Returns
    -------
    list of dict
        One blocking ``dedicated_in_community`` finding per part with more than the
        tolerance in community grids (or in no grid), located at that area.
    """
    parts = dedicated_parts(layer.district, units)
    if not len(parts):
        return []
    ded_mask = layer.grid_class == "dedicated"
    ded_geoms = layer.geoms[ded_mask & np.array([g is not None for g in layer.geoms], dtype=bool)]
    ded_union = shapely.union_all(ded_geoms) if len(ded_geoms) else shapely.Polygon()
    outside = shapely.difference(parts.geometry.values, ded_union)
    out = []
    for k, (geom, p) in enumerate(zip(outside, parts.geometry.values, strict=True)):
        area = geom.area
        if area <= max(tolerance_m2, share * p.area):
            continue
        row = parts.iloc[k]
        holders = [
            str(layer.ids[i])
            for i in layer.tree.query(geom, predicate="intersects")
            if not ded_mask[i]
        ]
        where = _("community grid(s) {grids}").format(grids=", ".join(holders[:3])) if holders else _("no grid")
        out.append(finding("R4", BLOCKING, "dedicated_in_community",
                           _("{cls} {lid}: {area} of {total} lie in {where}, not in a dedicated grid; cut it out as a "
                             "dedicated grid of its own.").format(cls=row["landuse_class"], lid=row["landuse_id"],
                                                                  area=_m2(area), total=_m2(p.area), where=where),
                           polygonal_part(geom), grid_id=holders[0] if holders else "", community_code=row["community_code"],
                           related_id=str(row["landuse_id"])))  # fmt: skip
    return out


# -- R1: the band ---------------------------------------------------------------------------
def check_band(layer: GridLayer, *, band: Band) -> list[dict]:
    """Every community grid holds ``band.lower``–``band.upper`` of ``band.measure`` (R1), or says why not.

    The count is that of the buildings inside the grid. A grid outside the band is a warning
    when the partitioner's ``flag`` explains it (see :data:`BAND_REASONS`), or when it is the
    only grid of a community holding fewer than ``lower`` (R2 allows it); otherwise blocking.
    A ``households``/``residents`` column disagreeing with the buildings is a warning.

    Returns
    -------
    list of dict
        ``oversize``, ``undersize`` and ``count_mismatch`` findings.
    """
    lower, upper, measure = band.lower, band.upper, band.measure
    counts = layer.counts(measure)
    g = layer.grids
    flags = [text_value(v) for v in g["flag"]] if "flag" in g.columns else [""] * len(counts)
    b = layer.district.buildings
    com_total = (
        b.groupby("community_code")[measure].sum().to_dict()
        if "community_code" in b.columns
        else {}
    )
    com = layer.district.communities.set_index("community_code")
    n_com_grids = pd.Series(layer.home[layer.grid_class == "community"]).value_counts().to_dict()
    out = []
    for i, gid in enumerate(layer.ids):
        if layer.geoms[i] is None:
            continue
        home = layer.home[i]
        n = int(counts[i])
        if measure in g.columns and pd.notna(g[measure].iloc[i]):
            said = int(g[measure].iloc[i])
            if said != n:
                out.append(finding("R1", WARNING, "count_mismatch",
                                   _("Grid {gid} says {said} {measure}; the buildings inside hold {n}: update the count.").format(
                                       gid=gid, said=said, measure=_(measure), n=n),
                                   shapely.point_on_surface(layer.geoms[i]), grid_id=gid, community_code=home))  # fmt: skip
        if layer.grid_class[i] != "community" or lower <= n <= upper:
            continue
        flag = [f for f in flags[i].split(";") if f in BAND_REASONS]
        reason = _(BAND_REASONS[flag[0]]) if flag else ""
        if not reason:
            total = com_total.get(home, 0)
            reason = _derived_reason(
                layer, i, n, lower, upper, total, n_com_grids.get(home, 0), com
            )
        defect = "oversize" if n > upper else "undersize"
        side = _("more than {n}").format(n=upper) if n > upper else _("fewer than {n}").format(n=lower)
        if reason:
            out.append(finding("R1", WARNING, defect,
                               _("Grid {gid} holds {n} {measure}, {side}: accepted because {reason}.").format(
                                   gid=gid, n=n, measure=_(measure), side=side, reason=reason),
                               layer.geoms[i], grid_id=gid, community_code=home))  # fmt: skip
        else:
            todo = _("split it") if n > upper else _("merge it with a neighbouring grid")
            out.append(finding("R1", BLOCKING, defect,
                               _("Grid {gid} holds {n} {measure}, {side} (band {lower}–{upper}): {todo}.").format(
                                   gid=gid, n=n, measure=_(measure), side=side, lower=lower, upper=upper, todo=todo),
                               layer.geoms[i], grid_id=gid, community_code=home))  # fmt: skip
    return out


def _derived_reason(
    layer: GridLayer, i: int, n: int, lower: int, upper: int, total: int, n_grids: int, com
) -> str:
    """The partitioner's reason for a grid out of band, derived when the layer carries no flag."""
    from gridgeo.partition import k_range

    home = layer.home[i]
    if n < lower and total < lower and n == total:
        village = (
            bool(com.at[home, "is_village"])
            if home in com.index and "is_village" in com.columns
            else False
        )
        return _(BAND_REASONS["village_below_band" if village else "below_band"])
    lo, hi = k_range(int(total), lower, upper)
    if total >= lower and lo > hi:
        return _(BAND_REASONS["band_widened"]) + _(" ({total} in the community)").format(total=total)
    same = tuple(
        str(x)
        for k, x in enumerate(layer.ids)
        if layer.home[k] != home or layer.grid_class[k] != "community"
    )
    if n == 0 and not _neighbours(
        layer, layer.geoms[i], exclude=(layer.ids[i], *same), min_shared=MIN_SHARED_M
    ):
        return _(BAND_REASONS["no_households"])
    return ""


# -- R8: codes ------------------------------------------------------------------------------
def check_codes(layer: GridLayer, *, scheme=None, column: str = "grid_code") -> list[dict]:
    """Every grid carries a valid code, unique, of the community it lies in (R8).

    Parameters
    ----------
    layer : GridLayer
    scheme : CodeScheme, str or None
        The code scheme (default ``gridgeo-19``).
    column : str
        The column holding the codes.

    Returns
    -------
    list of dict
        Blocking ``code_missing``, ``code_invalid``, ``code_duplicate`` and
        ``code_community`` findings (one per grid and defect).
    """
    from gridgeo.coding import parse_code, validate_code

    g = layer.grids
    out = []
    if column not in g.columns:
        return [
            finding(
                "R8",
                BLOCKING,
                "code_missing",
                _("The layer has no {column} column: no grid has a code.").format(column=column),
                None,
            )
        ]
    seen: dict[str, str] = {}
    for i, raw in enumerate(g[column]):
        gid, home = layer.ids[i], layer.home[i]
        where = shapely.point_on_surface(layer.geoms[i]) if layer.geoms[i] is not None else None
        if isinstance(raw, (int, np.integer)):
            raw = str(raw)
        code = text_value(raw)
        if not code:
            out.append(finding("R8", BLOCKING, "code_missing", _("Grid {gid} has no code: assign one (gridgeo codes assign).").format(gid=gid),
                               where, grid_id=gid, community_code=home))  # fmt: skip
            continue
        problems = validate_code(code, scheme=scheme)
        if problems:
            out.append(finding("R8", BLOCKING, "code_invalid", _("Grid {gid}: {problems}").format(gid=gid, problems=" ".join(problems)),
                               where, grid_id=gid, community_code=home, related_id=code))  # fmt: skip
            continue
        if code in seen:
            out.append(finding("R8", BLOCKING, "code_duplicate",
                               _("Grid {gid} repeats code {code} of grid {other}: each grid needs its own code.").format(
                                   gid=gid, code=code, other=seen[code]),
                               where, grid_id=gid, community_code=home, related_id=code))  # fmt: skip
        else:
            seen[code] = gid
        division = parse_code(code, scheme=scheme).division_code
        if division and home and division != home:
            out.append(finding("R8", BLOCKING, "code_community",
                               _("Grid {gid}'s code {code} belongs to community {division}, but the grid lies in {home}.").format(
                                   gid=gid, code=code, division=division, home=home),
                               where, grid_id=gid, community_code=home, related_id=code))  # fmt: skip
    return out
