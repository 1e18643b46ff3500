"""Units that tile each community exactly: the atoms grids are made of.

Per community (R2: a grid never straddles two):

* **dedicated** units: the dedicated land-use polygons (R4: school, hospital, park, market ...)
  clipped to the community, one unit per connected part, each to become a dedicated grid of
  its own with the buildings inside it, whatever its size or households. Only a site below its
  class's floor (:attr:`UnitOptions.dedicated_floor_m2`, none by default) or lying inside
  another site stays ordinary land (kind ``minor_dedicated``), recorded in
  :attr:`Units.sites` for a located R4 finding.
* **absorbable** units: mountain, forest, reservoir, lake, construction site ... (R3) clipped to
  what is left, one unit per part; they carry the households of any building inside them.
* **building** units: what is left is cut into street blocks by the community boundary, roads
  and rivers, and each block into cells of its buildings: Voronoi cells of their representative
  points where these hold every footprint whole (buildings laid out like a lattice, points),
  else a tessellation of the footprints themselves (:func:`momepy.enclosed_tessellation`:
  every point of a block goes to the nearest footprint), so that no unit boundary crosses a
  footprint. A building's unit is the cell part holding it; the block is kept as ``block_id``.
* **leftover** units: blocks without a building, and cell parts cut off from their building by a
  block's shape: land with no households.

Coverage holds by construction: the units of a community tile it. The adjacency between units
is rook (a shared boundary of positive length) with the shared length in metres; a boundary
that follows a road or river is cheap to cut, one between two footprints of a block dear.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo._geom import snap
from gridgeo.district import District
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

#: Coordinates of units are snapped to this grid (m) so that neighbours share exact edges.
GRID_SIZE = None
#: Units and grids are snap-rounded to this grid (m) at the end: it closes the cracks of a
#: few 1e-10 m that floating-point overlay leaves between faces, without moving any
#: boundary visibly. Shared vertices round alike, so the tiling is kept.
SNAP_M = 1e-6
#: Shared boundaries are simplified together (a coverage simplification) by this tolerance (m).
SIMPLIFY_M = 0.01
#: Units of land without buildings smaller than this (m²) join a neighbour.
SLIVER_M2 = 1.0
#: Land-use vertices this close to the community boundary or to land claimed before are snapped onto it, m.
HAIR_M = 0.05
#: Shared boundaries shorter than this (m) do not make two units adjacent (touching corners).
MIN_SHARED_M = 0.5


@dataclass(frozen=True)
class UnitOptions:
    """How units are built.

    Attributes
    ----------
    dedicated_floor_m2 : mapping of str to float
        Per dedicated class (``school``, ``park`` ...), the area (m²) below which a site of that
        class gets no dedicated grid and stays inside the community grids, as a located R4
        finding. By default every dedicated site is a dedicated grid, whatever its size: whether
        a polygon is a dedicated site is decided by its class, never by its households.
    dedicated_min_area_m2 : float
        A floor for every class not in ``dedicated_floor_m2`` (default 0: none).
    dedicated_min_households : int
        Not used by the units (a site's households never decide whether it is dedicated); kept
        for :func:`gridgeo.coverage.checks.dedicated_parts`, which keeps a piece at or above
        either floor.
    road_discount : float
        The cost of cutting along a road or river, as a share of the shared length (0–1).
    road_width_m : float
        How close (m) to a road or river line a unit boundary counts as following it.
    block_cost : float
        Multiplies the cost of cutting between two units of one street block (between two
        footprints), so that grids follow streets and keep blocks whole.
    tessellation_segment_m : float
        Where point cells would cut a footprint, the footprints are tessellated
        (:func:`momepy.enclosed_tessellation`) with their outlines sampled every this many m.
    site_margin_m : float
        A strip of land narrower than this (m) between a dedicated site and the street or
        community boundary around it (a site drawn short of the street's centre line) joins the
        site's unit: the dedicated grid then ends at the street, and no community grid has to
        wrap round the site as a ribbon. A strip holding any footprint stays ordinary land;
        0 turns this off.
    """

    dedicated_floor_m2: Mapping[str, float] = field(default_factory=dict)
    dedicated_min_area_m2: float = 0.0
    dedicated_min_households: int = 0
    road_discount: float = 0.1
    road_width_m: float = 15.0
    block_cost: float = 4.0
    tessellation_segment_m: float = 1.0
    site_margin_m: float = 3.0

    def __post_init__(self) -> None:
        problems = []
        for flag, value, low, high in (("--road-discount", self.road_discount, 0.0, 1.0),
                                       ("--block-cost", self.block_cost, 1.0, None),
                                       ("--site-margin", self.site_margin_m, 0.0, None),
                                       ("road_width_m", self.road_width_m, 0.0, None)):  # fmt: skip
            ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
            if not ok or value < low or (high is not None and value > high):
                problems.append(Problem(flag, None, _unit_range(value, low, high)))
        if problems:
            raise InputError(problems)

    def floor_m2(self, landuse_class: str) -> float:
        """The dedicated floor (m²) of a class."""
        return float(self.dedicated_floor_m2.get(landuse_class, self.dedicated_min_area_m2))


def _unit_range(value, low: float, high: float | None) -> str:
    """Why a unit option's value is refused, in the reader's language."""
    if high is None:
        return _("is {value!r}; give a number of at least {low:g}").format(value=value, low=low)
    return _("is {value!r}; give a number from {low:g} to {high:g}").format(value=value, low=low, high=high)


@dataclass
class Units:
    """The units of a district and their adjacency.

    Attributes
    ----------
    units : GeoDataFrame
        ``unit_id`` (str), ``community_code``, ``kind`` (``building``, ``absorbable``,
        ``dedicated``, ``minor_dedicated``, ``leftover``), ``landuse_class``, ``landuse_id``,
        ``block_id`` (the street block the unit lies in, ``""`` for land-use units),
        ``households``, ``residents``, ``n_buildings``, ``area_m2``, geometry (metric CRS).
    edges : DataFrame
        ``u``, ``v`` (unit_id), ``shared_m`` (shared boundary length, m), ``along_m`` (of it
        along a road or river), ``cost`` (what cutting the edge costs).
    building_unit : DataFrame
        ``building_id`` -> ``unit_id``.
    sites : list of SiteEvent
        The dedicated sites (R4) that are no dedicated grid of their own, and why.
    """

    units: gpd.GeoDataFrame
    edges: pd.DataFrame
    building_unit: pd.DataFrame
    sites: list = field(default_factory=list)


def build_units(district: District, options: UnitOptions | None = None) -> Units:
    """Cut every community of the district into units that tile it.

    Parameters
    ----------
    district : District
        A validated district (metric CRS).
    options : UnitOptions, optional
        Floors and road discount.

    Returns
    -------
    Units
    """
    options = options or UnitOptions()
    crs = district.communities.crs
    lu = district.landuse
    lines = [g for g in district.roads.geometry if g is not None] + [
        g for g in district.rivers.geometry if g is not None and g.geom_type.endswith("LineString")
    ]
    river_polys = [
        g for g in district.rivers.geometry if g is not None and g.geom_type.endswith("Polygon")
    ]
    line_tree = shapely.STRtree(lines) if lines else None
    lu_tree = shapely.STRtree(lu.geometry.values) if len(lu) else None
    rp_tree = shapely.STRtree(river_polys) if river_polys else None
    bld = district.buildings
    bpts = shapely.point_on_surface(bld.geometry.values)
    by_com = bld.groupby("community_code").indices

    all_units: list[dict] = []
    all_edges: list[pd.DataFrame] = []
    bu_rows: list[tuple[str, str]] = []
    sites: list[SiteEvent] = []
    for code, poly in sorted(
        zip(district.communities["community_code"], district.communities.geometry, strict=True)
    ):
        idx = by_com.get(code, np.array([], dtype=int))
        lu_idx = lu_tree.query(poly, predicate="intersects") if lu_tree is not None else []
        com_lu = lu.iloc[np.sort(lu_idx)]
        extra_water = [
            river_polys[i]
            for i in (np.sort(rp_tree.query(poly, predicate="intersects")) if rp_tree else [])
        ]
        com_lines = [
            lines[i]
            for i in (np.sort(line_tree.query(poly, predicate="intersects")) if line_tree else [])
        ]
        units, bmap, events = _community_units(
            code, poly, bld.iloc[idx], bpts[idx], com_lu, extra_water, com_lines, options
        )
        bu_rows.extend(bmap)
        all_units.extend(units)
        sites.extend(events)
        all_edges.append(
            _edges(
                [u["geometry"] for u in units],
                [u["unit_id"] for u in units],
                com_lines,
                options,
                blocks=[u["block_id"] for u in units],
            )
        )
    units_gdf = (
        gpd.GeoDataFrame(all_units, geometry="geometry", crs=crs)
        if all_units
        else gpd.GeoDataFrame(
            columns=["unit_id", "community_code", "kind", "block_id", "geometry"],
            geometry="geometry",
            crs=crs,
        )
    )
    edges = (
        pd.concat(all_edges, ignore_index=True)
        if all_edges
        else pd.DataFrame(columns=["u", "v", "shared_m", "along_m", "cost"])
    )
    return Units(
        units_gdf, edges, pd.DataFrame(bu_rows, columns=["building_id", "unit_id"]), sites
    )


def _polygons(geom) -> list:
    """The polygon parts of a geometry, largest first, empty ones dropped."""
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":  # the common case: nothing to split or sort
        return [geom] if geom.area > 0.01 else []
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0.01]
    out = []
    for p in parts:
        if p.geom_type == "Polygon":
            out.append(p)
    return sorted(out, key=lambda p: (-p.area, p.centroid.x, p.centroid.y))


def _first_hit(tree: shapely.STRtree | None, geoms: np.ndarray) -> np.ndarray:
    """Per geometry, the lowest index of the tree's geometries it intersects, or -1."""
    out = np.full(len(geoms), -1)
    if tree is None or not len(geoms):
        return out
    gi, ti = tree.query(geoms, predicate="intersects")
    if len(gi):
        low = pd.Series(ti).groupby(gi).min()
        out[low.index.to_numpy()] = low.to_numpy()
    return out


@dataclass(frozen=True)
class SiteEvent:
    """A dedicated site (R4) that did not become a dedicated grid of its own, and why.

    Attributes
    ----------
    community_code, landuse_id, landuse_class : str
    reason : str
        ``below_floor`` (smaller than its class's floor) or ``merged`` (lies inside another
        dedicated site, ``into`` its landuse id).
    area_m2 : float
        The site's area inside the community (m²).
    into : str
        The landuse id of the site it was merged into (``merged`` only).
    geometry : shapely geometry
        The site inside the community (metric CRS).
    """

    community_code: str
    landuse_id: str
    landuse_class: str
    reason: str
    area_m2: float
    into: str
    geometry: object


def _landuse_parts(code, poly, com_lu, extra_water, options):
    """Land-use parts of a community by priority, and the dedicated sites left without a grid.

    Dedicated (R4) parts first, in id order, each a dedicated unit unless below its class's
    floor; then absorbable (R3) land, river polygons and the sites below the floor.
    """
    claimed = shapely.Polygon()
    parts: list[tuple[str, str, str, object]] = []  # kind, class, landuse id, polygon
    minor = []
    events: list[SiteEvent] = []
    ded = com_lu[com_lu["category"] == "dedicated"].sort_values("landuse_id")
    edge = poly.boundary
    for lid, cls, g in zip(ded["landuse_id"], ded["landuse_class"], ded.geometry, strict=True):
        mine = shapely.intersection(_onto(g, edge, claimed), poly)
        if mine.is_empty or mine.area <= 0.01:
            continue
        free = _polygons(shapely.difference(mine, claimed))
        if sum(p.area for p in free) < 0.5 * mine.area:
            # Mostly inside a site claimed before: it goes to that site's dedicated grid.
            into = next(
                (q[2] for q in parts if q[0] == "dedicated" and q[3].intersects(mine)), ""
            )
            events.append(SiteEvent(code, str(lid), str(cls), "merged", float(mine.area), into, mine))
            for part in free:
                minor.append(("minor_dedicated", cls, lid, part))
            continue
        if mine.area < options.floor_m2(str(cls)):
            events.append(SiteEvent(code, str(lid), str(cls), "below_floor", float(mine.area), "", mine))
            minor.extend(("minor_dedicated", cls, lid, part) for part in free)
            continue
        for part in free:
            parts.append(("dedicated", cls, lid, part))
            claimed = shapely.union(claimed, part)
    absorb = com_lu[com_lu["category"] == "absorbable"].sort_values("landuse_id")
    items = [
        ("absorbable", c, i, g)
        for i, c, g in zip(
            absorb["landuse_id"], absorb["landuse_class"], absorb.geometry, strict=True
        )
    ]
    items += [("absorbable", "water", "", g) for g in extra_water] + minor
    for kind, cls, lid, g in items:
        for part in _polygons(shapely.difference(shapely.intersection(_onto(g, edge, claimed), poly), claimed)):
            parts.append((kind, cls, lid, part))
            claimed = shapely.union(claimed, part)
    return parts, claimed, events


def _onto(g, edge, claimed):
    """A land-use polygon with its vertices snapped within :data:`HAIR_M` onto the community edge and the land claimed.

    A site digitised a millimetre inside the community boundary (or beside another site) would
    otherwise leave a hair-thin strip of land between them, joined to a building's cell: after
    reprojection to longitude/latitude such a strip collapses and the grid falls apart in two
    pieces. Snapping closes the strip; the repair keeps only the polygonal part.
    """
    xy = shapely.get_coordinates(g)
    pts = shapely.points(xy)
    near = shapely.distance(pts, edge)
    if not claimed.is_empty:
        near = np.minimum(near, shapely.distance(pts, claimed.boundary))
    close = near <= HAIR_M
    if not close.any():
        return g
    # The union of the edge and the land claimed only for the polygons that need it.
    ref = edge if claimed.is_empty else shapely.union(edge, claimed.boundary)
    # Each close vertex onto the nearest point of the reference (shapely.snap moves vertices
    # onto the reference's vertices only), then the reference's vertices into g's edges.
    xy[close] = shapely.get_coordinates(shapely.get_point(shapely.shortest_line(pts[close], ref), 1))
    snapped = shapely.snap(shapely.transform(g, lambda _: xy), ref, HAIR_M)
    fixed = snapped if snapped.is_valid else shapely.make_valid(snapped)
    parts = _polygons(fixed)
    return shapely.union_all(parts) if parts else g


def _site_margins(parts: list, claimed, poly, cut: list, footprints: np.ndarray, width: float):
    """Give each dedicated part the strips narrower than ``width`` between it and a street.

    A strip is what lies within ``width`` of both the site and a street (or the community
    boundary), on the site's side of the street, not claimed by any land use and touching no
    footprint. ``parts`` is updated in place; returns the land claimed by all parts.
    """
    ded = [k for k, p in enumerate(parts) if p[0] == "dedicated"]
    if not ded:
        return claimed
    bounds = [poly.boundary, *[c for c in cut if c is not None and not c.is_empty]]
    tree = shapely.STRtree(bounds)
    fp_tree = shapely.STRtree(footprints) if len(footprints) else None
    for k in ded:
        kind, cls, lid, site = parts[k]
        reach = shapely.buffer(site, width, join_style="mitre")
        near_lines = [bounds[i] for i in np.sort(tree.query(reach, predicate="intersects"))]
        if not near_lines:
            continue
        lines_u = shapely.union_all(near_lines)
        band = shapely.difference(shapely.intersection(reach, poly), claimed)
        band = shapely.intersection(band, shapely.buffer(lines_u, width, join_style="mitre"))
        if band.is_empty:
            continue
        # Split the band by the streets: only the pieces on the site's side of them touch it.
        pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(
            shapely.union_all([shapely.boundary(band), lines_u])))).tolist()  # fmt: skip
        keep = []
        for piece in pieces:
            rep = shapely.point_on_surface(piece)
            if not shapely.intersects(band, rep) or piece.area < 0.01:
                continue
            if shapely.length(shapely.intersection(piece.boundary, site.boundary)) < MIN_SHARED_M:
                continue
            if fp_tree is not None and len(fp_tree.query(piece, predicate="intersects")):
                continue
            keep.append(piece)
        if not keep:
            continue
        grown = shapely.union_all([site, *keep])
        if grown.geom_type != "Polygon":
            continue
        parts[k] = (kind, cls, lid, grown)
        claimed = shapely.union(claimed, grown)
    return claimed


@dataclass
class _Cells:
    """How the land of a community's blocks is shared among its buildings.

    ``lines`` are the cell boundaries (to node with the blocks); ``seeds`` one point per cell
    (the building it belongs to); ``label`` gives each face (by its representative point) the
    index of its cell.
    """

    lines: list
    seeds: np.ndarray
    footprints: np.ndarray | None
    cells: np.ndarray | None

    def label(self, reps: np.ndarray) -> np.ndarray:
        out = np.full(len(reps), -1)
        if not len(self.seeds) or not len(reps):
            return out
        if self.footprints is None:
            return np.asarray(shapely.STRtree(shapely.points(self.seeds)).nearest(reps))
        # A face inside a footprint is that building's; else the tessellation cell holding it.
        out = _first_hit(shapely.STRtree(self.footprints), reps)
        free = np.flatnonzero(out < 0)
        if len(free) and self.cells is not None:
            out[free] = _first_hit(shapely.STRtree(self.cells), reps[free])
        free = np.flatnonzero(out < 0)
        if len(free):
            out[free] = shapely.STRtree(self.footprints).nearest(reps[free])
        return out


def _point_cells(poly, near, bx, by):
    """Voronoi cells of the buildings' representative points (shared points share a cell)."""
    gen = np.unique(np.round(np.column_stack([bx, by]), 2), axis=0) if len(bx) else np.empty((0, 2))
    if len(gen) < 2:
        return gen, [], None
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(gen), extend_to=poly, ordered=True))
    return gen, list(shapely.intersection(shapely.boundary(cells), near)), cells


def _tessellate(poly, near, geoms, bx, by, blocks, options) -> _Cells:
    """The cells of a community's buildings, each holding its footprint whole.

    Point cells where they hold every footprint whole, else a tessellation of the footprints
    (every point of a block to the nearest footprint).

    Point cells are cheap and, on buildings laid out like a lattice, already hold each footprint;
    a long slab or an L-shaped block is cut by them, and then the community is tessellated with
    :func:`momepy.enclosed_tessellation` inside its blocks, each footprint wholly in its cell.
    """
    gen, lines, cells = _point_cells(poly, near, bx, by)
    polys = shapely.get_type_id(geoms) >= 3 if len(geoms) else np.zeros(0, dtype=bool)
    if cells is None or not polys.any():
        return _Cells(lines, gen, None, None)
    # The cell of each building: the one of its (rounded) point, as ``ordered=True`` keeps it.
    key = {tuple(p): i for i, p in enumerate(gen)}
    own = np.array([key[(x, y)] for x, y in np.round(np.column_stack([bx, by]), 2)])
    clipped = shapely.intersection(geoms[polys], poly)
    if shapely.covers(shapely.buffer(cells[own[polys]], 0.01), clipped).all():
        return _Cells(lines, gen, None, None)
    fps = np.where(polys, shapely.intersection(geoms, poly), shapely.buffer(geoms, 0.5, quad_segs=1))
    fps = np.array([g if not g.is_empty else shapely.buffer(shapely.points(x, y), 0.5, quad_segs=1)
                    for g, x, y in zip(fps, bx, by, strict=True)], dtype=object)  # fmt: skip
    tess = _enclosed_tessellation(fps, blocks, options)
    if tess is None:  # momepy could not tessellate this community: its point cells serve
        return _Cells(lines, gen, None, None)
    tess = tess[tess.index >= 0]
    cell_of = np.full(len(fps), None, dtype=object)
    cell_of[tess.index.to_numpy()] = tess.geometry.values
    cell_of = np.array([c if c is not None else shapely.Polygon() for c in cell_of], dtype=object)
    lines = list(shapely.intersection(shapely.boundary(cell_of), near))
    lines += list(shapely.intersection(shapely.boundary(fps), near))
    return _Cells(lines, np.column_stack([bx, by]), fps, cell_of)


def _enclosed_tessellation(fps: np.ndarray, blocks, options: UnitOptions) -> gpd.GeoDataFrame | None:
    """Momepy's enclosed tessellation of the footprints, cells as polygons; None when it fails.

    momepy simplifies the cells as a coverage, which GEOS refuses when a cell came out as a
    geometry collection (seen on 2 of 6,648 generated Qingdao communities): the cells are then
    made again without that simplification, their polygonal parts kept.
    """
    import momepy

    fp, bl = gpd.GeoSeries(fps), gpd.GeoSeries(blocks)
    for simplify in (True, False):
        try:
            tess = momepy.enclosed_tessellation(fp, bl, segment=options.tessellation_segment_m, simplify=simplify,
                                                n_jobs=1)  # fmt: skip
        except (TypeError, ValueError, shapely.errors.GEOSException):
            continue
        geoms = tess.geometry.values
        odd = ~np.isin(shapely.get_type_id(geoms), (3, 6))
        if odd.any():
            fixed = [shapely.union_all([q for q in shapely.get_parts(g) if q.geom_type in ("Polygon", "MultiPolygon")])
                     for g in geoms[odd]]  # fmt: skip
            geoms = geoms.copy()
            geoms[odd] = fixed
            tess = tess.set_geometry(gpd.GeoSeries(geoms, index=tess.index, crs=tess.crs))
        return tess
    return None


def _community_units(code, poly, bld, bpts, com_lu, extra_water, lines, options):
    """The units of one community, the building -> unit pairs and the dedicated-site events.

    Every unit is a union of faces of one planar arrangement (the community boundary, the
    land-use boundaries, roads, rivers and the cell edges of the buildings), so neighbouring
    units share identical edges: no gap, no overlap, by construction.
    """
    hh = bld["households"].to_numpy()
    rs = bld["residents"].to_numpy()
    ids = bld["building_id"].to_numpy()
    bx, by = shapely.get_x(bpts), shapely.get_y(bpts)

    parts, claimed, events = _landuse_parts(code, poly, com_lu, extra_water, options)

    # Blocks: the rest of the community cut by roads and rivers (to tell a cell's parts apart).
    near = poly.buffer(1.0)
    cut = list(shapely.intersection(np.array(lines, dtype=object), near)) if lines else []
    if options.site_margin_m > 0:
        claimed = _site_margins(parts, claimed, poly, cut, np.asarray(bld.geometry.values), options.site_margin_m)
    rest = shapely.difference(poly, claimed)
    block_lines = [poly.boundary, *[p[3].boundary for p in parts], *cut]
    blocks = _faces(block_lines, rest)
    block_tree = shapely.STRtree(blocks) if blocks else None

    cells = _tessellate(poly, near, np.asarray(bld.geometry.values), bx, by, blocks, options)
    faces = _faces(block_lines + cells.lines, poly)
    reps = shapely.point_on_surface(np.array(faces, dtype=object)) if faces else np.array([])

    # Label every face: a land-use part, or (block, cell) of the rest.
    groups: dict[tuple, list] = {}
    part_tree = shapely.STRtree([p[3] for p in parts]) if parts else None
    n_faces = len(faces)
    part_of, block_of = _first_hit(part_tree, reps), _first_hit(block_tree, reps)
    cell_of = np.full(n_faces, -1)
    free = np.flatnonzero(part_of < 0)
    if len(free):
        cell_of[free] = cells.label(reps[free])
    for i, face in enumerate(faces):
        if part_of[i] >= 0:
            key = ("part", int(part_of[i]))
        else:
            key = ("cell", int(block_of[i]), int(cell_of[i]))
        groups.setdefault(key, []).append(face)
    units = _assemble(code, groups, parts, cells.seeds)
    units = _reconcile(units, poly)
    units, bmap = _number_and_count(code, units, bpts, hh, rs, ids)
    return units, bmap, events


def _assemble(code, groups, parts, seeds) -> list[dict]:
    """Units from the labelled faces: land-use parts, and per block the building cells."""
    units: list[dict] = []

    def add(kind, geom, landuse_class="", landuse_id="", block=-1):
        units.append({"unit_id": "", "community_code": code, "kind": kind, "landuse_class": landuse_class,
                      "landuse_id": landuse_id, "block_id": "" if block < 0 else f"{code}-K{block + 1:03d}",
                      "households": 0, "residents": 0, "n_buildings": 0,
                      "area_m2": float(geom.area), "geometry": geom})  # fmt: skip

    pieces: dict[int, list] = {}  # block -> [kind, geometry] of its cell pieces
    for key in sorted(groups, key=lambda k: (k[0], *k[1:])):
        merged = _polygons(shapely.union_all(groups[key]))
        if key[0] == "part":
            kind, cls, lid, _ = parts[key[1]]
            for m in merged:
                add(kind, m, cls, lid)
            continue
        for m in merged:
            has = bool(key[2] >= 0 and shapely.contains_xy(m, seeds[key[2]][0], seeds[key[2]][1]))
            pieces.setdefault(key[1], []).append(["building" if has else "leftover", m])
    # A cell's piece cut off from its building joins the building unit of its own block
    # it shares the longest boundary with: fewer, rounder units, the same tiling.
    for blk in sorted(pieces):
        items = pieces[blk]
        homes = [it for it in items if it[0] == "building"]
        for it in items:
            if it[0] != "leftover" or not homes:
                continue
            home_geoms = np.array([h[1] for h in homes], dtype=object)
            shared = shapely.length(
                shapely.intersection(it[1].boundary, shapely.boundary(home_geoms))
            )
            best = int(np.argmax(shared))
            if shared[best] >= MIN_SHARED_M:
                homes[best][1] = shapely.union(homes[best][1], it[1])
                it[0] = "merged"
        for kind, geom in items:
            if kind == "merged":
                continue
            for m in _polygons(geom):
                add(kind, m, block=blk)
    return units


def _number_and_count(code, units, bpts, hh, rs, ids):
    """Number the units north to south, west to east, and count the buildings in each.

    A building is in the unit holding its representative point (on an edge: the first unit
    touching it).
    """
    geoms = np.array([u["geometry"] for u in units], dtype=object)
    order = sorted(
        range(len(units)),
        key=lambda i: (-round(geoms[i].centroid.y, 1), round(geoms[i].centroid.x, 1)),
    )
    units = [units[i] for i in order]
    geoms = geoms[order]
    for k, u in enumerate(units, start=1):
        u["unit_id"] = f"{code}-U{k:05d}"
    bmap: list[tuple[str, str]] = []
    if len(bpts) and len(units):
        tree = shapely.STRtree(geoms)
        home = _first_hit(tree, bpts)
        for b in np.flatnonzero(home < 0):
            home[b] = int(tree.nearest(bpts[b]))
        for b, j in enumerate(home):
            u = units[j]
            u["households"] += int(hh[b])
            u["residents"] += int(rs[b])
            u["n_buildings"] += 1
            if u["kind"] == "leftover":
                u["kind"] = "building"
            bmap.append((ids[b], u["unit_id"]))
    return units, bmap


def _reconcile(units: list[dict], poly) -> list[dict]:
    """Make the units tile the community polygon exactly, on the 1 cm grid.

    Noding snaps the intersections of lines to the grid, which may move a stretch of the
    community boundary by millimetres; clipping to the community removes what lies outside,
    and each sliver of the community left uncovered joins the unit it shares the longest
    boundary with.
    """
    if not units:
        return units
    geoms = shapely.intersection(
        np.array([u["geometry"] for u in units], dtype=object), poly, grid_size=GRID_SIZE
    )
    out: list[dict] = []
    for u, g in zip(units, geoms, strict=True):
        for part in _polygons(g):
            out.append({**u, "geometry": part})
    if not out:
        return out
    arr = np.array([u["geometry"] for u in out], dtype=object)
    covered = shapely.union_all(arr, grid_size=GRID_SIZE)
    gap = shapely.difference(poly, covered, grid_size=GRID_SIZE)
    pieces = [p for p in shapely.get_parts(gap) if p.geom_type == "Polygon" and p.area > 0]
    if pieces:
        tree = shapely.STRtree(arr)
        for piece in sorted(pieces, key=lambda p: (p.centroid.x, p.centroid.y)):
            cand = tree.query(piece, predicate="intersects")
            if len(cand) == 0:
                cand = np.array([int(tree.nearest(piece))])
            shared = shapely.length(
                shapely.intersection(piece.boundary, shapely.boundary(arr[cand]))
            )
            for k in np.argsort(-shared, kind="stable"):
                merged = shapely.union(arr[cand[k]], piece, grid_size=GRID_SIZE)
                if merged.geom_type == "Polygon":
                    arr[cand[k]] = merged
                    break
    arr = snap(arr, SNAP_M)
    keep = []
    for u, g in zip(out, arr, strict=True):
        for part in _polygons(g):
            keep.append({**u, "geometry": part, "area_m2": float(part.area)})
    keep = _absorb_slivers(keep)
    # Drop near-collinear vertices and hair-thin spikes consistently across neighbours, so the
    # shapes stay valid after reprojection to longitude/latitude.
    geoms = shapely.coverage_simplify(
        np.array([u["geometry"] for u in keep], dtype=object), SIMPLIFY_M, simplify_boundary=False
    )
    for u, g in zip(keep, geoms, strict=True):
        u["geometry"] = g
        u["area_m2"] = float(g.area)
    return [u for u in keep if not u["geometry"].is_empty]


def _absorb_slivers(units: list[dict]) -> list[dict]:
    """Merge land units (no building, not dedicated) below :data:`SLIVER_M2` into a neighbour.

    The neighbour is the one sharing most boundary; such slivers come from land-use or road
    outlines that graze the community boundary, and alone they would be grids of no area.
    """
    small = [
        i
        for i, u in enumerate(units)
        if u["kind"] in ("leftover", "absorbable", "minor_dedicated")
        and u["geometry"].area < SLIVER_M2
    ]
    if not small or len(units) < 2:
        return units
    arr = np.array([u["geometry"] for u in units], dtype=object)
    tree = shapely.STRtree(arr)
    gone = set()
    for i in small:
        cand = [
            int(c) for c in tree.query(arr[i], predicate="intersects") if c != i and c not in gone
        ]
        if not cand:
            continue
        shared = shapely.length(shapely.intersection(arr[i].boundary, shapely.boundary(arr[cand])))
        for k in np.argsort(-shared, kind="stable"):
            merged = shapely.union(arr[cand[k]], arr[i])
            if merged.geom_type == "Polygon":
                arr[cand[k]] = merged
                gone.add(i)
                break
    out = []
    for i, u in enumerate(units):
        if i not in gone:
            out.append({**u, "geometry": arr[i], "area_m2": float(arr[i].area)})
    return out


def _faces(lines: list, area) -> list:
    """Faces of the planar arrangement of ``lines`` (noded on the 1 cm grid) inside ``area``."""
    if area is None or area.is_empty:
        return []
    lines = [ln for ln in lines if ln is not None and not ln.is_empty]
    noded = shapely.union_all(lines, grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return []
    reps = shapely.point_on_surface(faces)
    keep = shapely.intersects(area, reps) & (shapely.area(faces) > 1e-4)
    return sorted(faces[keep], key=lambda p: (-round(p.centroid.y, 2), round(p.centroid.x, 2)))


def _edges(
    geoms: list,
    ids: list[str],
    lines: list,
    options: UnitOptions,
    *,
    blocks: list[str] | None = None,
) -> pd.DataFrame:
    """Rook adjacency between units with shared length and cut cost.

    Cutting along a road or river costs ``road_discount`` of its length; cutting between two
    units of one street block (``blocks``, non-empty and equal) costs ``block_cost`` times it.
    """
    cols = ["u", "v", "shared_m", "along_m", "cost"]
    if len(geoms) < 2:
        return pd.DataFrame(columns=cols)
    arr = np.array(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    mask = left < right
    left, right = left[mask], right[mask]
    if len(left) == 0:
        return pd.DataFrame(columns=cols)
    shared = shapely.intersection(
        shapely.boundary(arr[left]), shapely.boundary(arr[right]), grid_size=GRID_SIZE
    )
    length = shapely.length(shared)
    keep = length >= MIN_SHARED_M
    left, right, shared, length = left[keep], right[keep], shared[keep], length[keep]
    along = np.zeros(len(left))
    if lines and len(left):
        zone = shapely.buffer(shapely.union_all(lines), options.road_width_m)
        shapely.prepare(zone)
        # Only edges that reach the zone are overlaid with it (the others are 0 along it).
        near = shapely.intersects(zone, shared)
        along[near] = shapely.length(shapely.intersection(shared[near], zone))
    cost = length - (1.0 - options.road_discount) * along
    if blocks is not None:
        blk = np.array(blocks, dtype=object)
        inside = (blk[left] == blk[right]) & (blk[left] != "")
        cost = np.where(inside, cost * options.block_cost, cost)
    return pd.DataFrame({
        "u": np.array(ids, dtype=object)[left], "v": np.array(ids, dtype=object)[right],
        "shared_m": np.round(length, 2), "along_m": np.round(along, 2), "cost": np.round(np.maximum(cost, 0.1), 2),
    })  # fmt: skip


def community_graph(units: Units, community_code: str):
    """The adjacency graph of one community's units, dedicated units left out.

    Parameters
    ----------
    units : Units
    community_code : str

    Returns
    -------
    networkx.Graph
        Nodes are unit ids with ``households``, ``residents``, ``area_m2``, ``block_id``; edges carry
        ``shared_m`` and ``edge_cost``.
    """
    import networkx as nx

    u = units.units
    sel = u[(u["community_code"] == community_code) & (u["kind"] != "dedicated")]
    g = nx.Graph()
    blocks = sel["block_id"] if "block_id" in sel.columns else pd.Series("", index=sel.index)
    for uid, h, r, a, k in zip(
        sel["unit_id"], sel["households"], sel["residents"], sel["area_m2"], blocks, strict=True
    ):
        g.add_node(uid, households=int(h), residents=int(r), area_m2=float(a), block_id=str(k))
    e = units.edges
    e = e[e["u"].isin(g.nodes) & e["v"].isin(g.nodes)]
    for a, b, s, c in zip(e["u"], e["v"], e["shared_m"], e["cost"], strict=True):
        g.add_edge(a, b, shared_m=float(s), edge_cost=float(c))
    return g


def street_blocks(district: District) -> gpd.GeoDataFrame:
    """The street blocks of every community: the community cut by its roads and rivers.

    Parameters
    ----------
    district : District
        A validated district (metric CRS).

    Returns
    -------
    GeoDataFrame
        ``block_id`` (``<community_code>-K<n>``), ``community_code``, polygon, in the
        district's metric CRS; the blocks of a community tile it.
    """
    crs = district.communities.crs
    lines = [g for g in district.roads.geometry if g is not None]
    lines += [
        g.boundary if g.geom_type.endswith("Polygon") else g
        for g in district.rivers.geometry
        if g is not None
    ]
    tree = shapely.STRtree(lines) if lines else None
    rows = []
    for code, poly in sorted(
        zip(district.communities["community_code"], district.communities.geometry, strict=True)
    ):
        near = poly.buffer(1.0)
        hit = np.sort(tree.query(poly, predicate="intersects")) if tree is not None else []
        cut = [shapely.intersection(lines[i], near) for i in hit]
        for k, face in enumerate(_faces([poly.boundary, *cut], poly), start=1):
            rows.append({"block_id": f"{code}-K{k:03d}", "community_code": code, "geometry": face})
    if not rows:
        return gpd.GeoDataFrame(
            columns=["block_id", "community_code", "geometry"], geometry="geometry", crs=crs
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
