"""Seeded generator of districts on the real Qingdao frame, for the sample, tests and benchmarks.

What is real and what is generated:

* **real** (``gridgeo/data``, Vonng/adcode, CC BY 4.0): the 12-digit NBS codes and names of
  every street/town and community/village, their urban-rural class, the published centre
  points of those communities that have one, and the county boundaries;
* **generated** (seeded, reproducible): the centre of every community without a published
  one (placed near its street's published points), community polygons (Voronoi cells of the
  centres, clipped to the real county boundary and to the street's extent), residential
  buildings with households and residents, land use (hills, reservoirs, construction sites,
  schools, hospitals, markets, parks, factories), roads and a river.

Every function takes a ``seed`` and returns the same layers for the same arguments.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from importlib import resources

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely import affinity

from gridgeo._geom import snap
from gridgeo.divisions import is_village_code, load_divisions

#: The CRS generated layers are written in: CGCS2000 longitude/latitude.
OUTPUT_CRS = CRS.from_epsg(4490)
#: Metric CRS for generation around Qingdao: CGCS2000 / 3-degree Gauss–Krüger CM 120°E.
WORK_CRS = CRS.from_epsg(4549)

#: The sample: one urban street of 市北区 and one rural town of 黄岛区, with all their real
#: communities and villages.
SAMPLE_STREETS = ("370203026000", "370211108000")


@lru_cache(maxsize=1)
def county_boundaries() -> gpd.GeoDataFrame:
    """Return the real Qingdao county boundaries (EPSG:4490), indexed by 6-digit adcode."""
    path = resources.files("gridgeo") / "data" / "qingdao_counties.geojson"
    with resources.as_file(path) as p:
        data = json.loads(p.read_text(encoding="utf-8"))
    gdf = gpd.GeoDataFrame.from_features(data["features"], crs=OUTPUT_CRS)
    return gdf.set_index("adcode")


@lru_cache(maxsize=1)
def _disjoint_counties() -> gpd.GeoSeries:
    """County boundaries in the work CRS, made disjoint (the simplified outlines overlap a little).

    Each county loses what a county of a lower code already covers, so communities built in
    neighbouring counties never overlap.
    """
    counties = county_boundaries().to_crs(WORK_CRS).sort_index()
    counties = counties[~counties.index.str.endswith("00")]  # the city outline itself
    taken = shapely.Polygon()
    out = {}
    for code, geom in zip(counties.index, counties.geometry, strict=True):
        mine = shapely.difference(geom, taken)
        out[code] = mine
        taken = shapely.union(taken, geom)
    return gpd.GeoSeries(out, crs=WORK_CRS)


def community_frame(
    street_codes: list[str] | tuple[str, ...], *, seed: int = 0
) -> gpd.GeoDataFrame:
    """Build community/village polygons with real codes and names for the given streets/towns.

    Parameters
    ----------
    street_codes : sequence of str
        12-digit codes of streets or towns (level ``town`` in the NBS table).
    seed : int
        Seed for the centres of communities without a published one.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_code``, ``name``, ``street_code``, ``street_name``, ``ur_code``,
        ``centre_real`` (bool: the centre point is published), geometry (EPSG:4549).
    """
    table = load_divisions()
    counties = _disjoint_counties()
    rng = np.random.default_rng(seed)
    rows = []
    streets: list[tuple] = []
    for street in street_codes:
        if street not in table.index or table.at[street, "level"] != "town":
            raise ValueError(f"{street} is not a street/town code of the Qingdao table")
        members = table[table["parent"] == street].sort_index()
        county = counties.loc[street[:6]]
        pts = gpd.GeoSeries(
            gpd.points_from_xy(members["longitude"], members["latitude"]), crs=OUTPUT_CRS
        ).to_crs(WORK_CRS)
        known = members["longitude"].notna().to_numpy()
        anchor = _street_anchor(table, street, pts[known], county)
        villages = members.index.str[9:12].astype(int) >= 200
        # Communities are about 0.6 km across in town, villages about 1.4 km.
        spacing = np.where(villages, 1400.0, 600.0)
        n = len(members)
        radius = float(np.sqrt(n) * np.median(spacing) * 0.55)
        xy = np.array(
            [[p.x, p.y] if k else [np.nan, np.nan] for p, k in zip(pts, known, strict=True)]
        )
        placed = [tuple(v) for v in xy[known]]
        for i in np.flatnonzero(~known):
            for _ in range(200):
                r = radius * np.sqrt(rng.random())
                t = rng.random() * 2 * np.pi
                cand = (anchor.x + r * np.cos(t), anchor.y + r * np.sin(t))
                ok = county.contains(shapely.Point(cand)) and all(
                    np.hypot(cand[0] - a, cand[1] - b) > spacing[i] * 0.55 for a, b in placed
                )
                if ok:
                    break
            xy[i] = cand
            placed.append(cand)
        # Published centres can be far apart from a street's generated ones, or share a point.
        xy = xy + rng.normal(0, 1.0, xy.shape)
        extent = shapely.MultiPoint(xy).convex_hull.buffer(float(np.median(spacing)) * 0.6)
        extent = extent.intersection(county)
        streets.append((street, members, xy, extent))
    # One Voronoi diagram per county over every centre of its streets, so that neighbouring
    # streets' communities share boundaries instead of overlapping.
    by_county: dict[str, list] = {}
    for item in streets:
        by_county.setdefault(item[0][:6], []).append(item)
    for county_code in sorted(by_county):
        items = by_county[county_code]
        xy_all = np.vstack([it[2] for it in items])
        extent_all = shapely.union_all([it[3] for it in items]) if len(items) > 1 else items[0][3]
        cells = list(
            shapely.get_parts(
                shapely.voronoi_polygons(
                    shapely.MultiPoint(xy_all), extend_to=extent_all, ordered=True
                )
            )
        )
        k = 0
        for street, members, xy, _extent in items:
            for (code, m), (x, y) in zip(members.iterrows(), xy, strict=True):
                cell = cells[k]
                k += 1
                geom = cell.intersection(extent_all)
                geom = _part_with(geom, shapely.Point(x, y))
                rows.append(
                    {
                        "community_code": code,
                        "name": m["name"],
                        "street_code": street,
                        "street_name": table.at[street, "name"],
                        "ur_code": "" if pd.isna(m["ur_code"]) else str(m["ur_code"]),
                        "centre_real": bool(pd.notna(m["longitude"])),
                        "geometry": geom,
                    }
                )
    rows.sort(key=lambda r: r["community_code"])
    for row, geom in zip(rows, _shared_topology([r["geometry"] for r in rows]), strict=True):
        row["geometry"] = snap(geom, 0.01)
    # A centre published outside its (de-overlapped) county can leave a community no ground.
    empty = [r["community_code"] for r in rows if r["geometry"] is None or r["geometry"].is_empty]
    if empty:
        warnings.warn(f"no ground left for {len(empty)} communities ({', '.join(empty[:5])}); left out", stacklevel=2)
        rows = [r for r in rows if r["community_code"] not in set(empty)]
    return gpd.GeoDataFrame(rows, crs=WORK_CRS)


def _street_anchor(
    table: pd.DataFrame, street: str, known_pts: gpd.GeoSeries, county
) -> shapely.Point:
    if len(known_pts):
        return shapely.Point(float(np.median(known_pts.x)), float(np.median(known_pts.y)))
    if pd.notna(table.at[street, "longitude"]):
        return (
            gpd.GeoSeries(
                [shapely.Point(table.at[street, "longitude"], table.at[street, "latitude"])],
                crs=OUTPUT_CRS,
            )
            .to_crs(WORK_CRS)
            .iloc[0]
        )
    return county.point_on_surface()


def _shared_topology(geoms: list) -> list:
    """Rebuild polygons from their noded boundaries so that neighbours share every vertex.

    Cells clipped to different county outlines meet at T-junctions; rounding each polygon to
    the 1 cm grid alone would then open slivers of overlap. Rebuilt from one noded
    arrangement, shared edges carry the same vertices and round alike.
    """
    if len(geoms) < 2:
        return geoms
    arr = np.array(geoms, dtype=object)
    noded = shapely.union_all(shapely.boundary(arr))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    reps = shapely.point_on_surface(faces)
    tree = shapely.STRtree(arr)
    fi, gi = tree.query(reps, predicate="within")
    owner = pd.Series(gi).groupby(fi).min()
    groups: dict[int, list] = {}
    for f, g in owner.items():
        groups.setdefault(int(g), []).append(faces[f])
    out = []
    for i, g in enumerate(geoms):
        parts = groups.get(i)
        out.append(
            _part_with(shapely.union_all(parts), shapely.point_on_surface(g)) if parts else g
        )
    return out


def _part_with(geom, point):
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon"]
    if not parts:
        return geom
    for p in parts:
        if p.contains(point):
            return p
    return max(parts, key=lambda p: p.area)


def _rect(cx: float, cy: float, w: float, h: float, angle: float):
    return affinity.rotate(
        shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, origin=(cx, cy)
    )


def generate_layers(
    communities: gpd.GeoDataFrame, *, seed: int = 0, scale: float = 1.0
) -> dict[str, gpd.GeoDataFrame]:
    """Fill community polygons with generated buildings, land use, roads and a river.

    Parameters
    ----------
    communities : GeoDataFrame
        ``community_code``, ``name`` and polygons in a metric CRS (as from
        :func:`community_frame`).
    seed : int
        Seed of every random draw.
    scale : float
        Multiplies the households per community (1.0: about 1,800–4,500 per urban
        community and 150–900 per village, as in Qingdao).

    Returns
    -------
    dict
        ``communities``, ``buildings``, ``landuse``, ``roads``, ``rivers`` GeoDataFrames with
        gridgeo's column names, in CGCS2000 longitude/latitude (EPSG:4490).
    """
    rng = np.random.default_rng(seed)
    crs = communities.crs
    com = communities.sort_values("community_code").reset_index(drop=True)
    district = shapely.union_all(com.geometry.values)
    roads = _roads(com, district, rng)
    road_zone = (
        shapely.buffer(shapely.union_all([r["geometry"] for r in roads]), 9.0)
        if roads
        else shapely.Polygon()
    )
    river = _river(com, district, rng)
    river_zone = river.buffer(25.0) if river is not None else shapely.Polygon()

    buildings, landuse = [], []
    lu_serial = 0
    for code, poly in zip(com["community_code"], com.geometry, strict=True):
        village = is_village_code(code)
        sub = np.random.default_rng([seed, int(code)])
        angle = float(sub.uniform(-25, 25))
        # Land use first: dedicated units and absorbable land, each a rotated rectangle or blob.
        wishes = _landuse_wishes(village, sub)
        blocked = shapely.union_all([road_zone.intersection(poly), river_zone.intersection(poly)])
        for cls, (w, h) in wishes:
            site = _free_site(poly, blocked, w, h, angle, sub)
            if site is None:
                continue
            if cls in ("mountain", "forest", "lake", "reservoir"):
                site = _blob(site, sub)
            site = site.intersection(poly)
            if site.is_empty or site.area < 200:
                continue
            lu_serial += 1
            landuse.append({"landuse_id": f"LU{lu_serial:05d}", "landuse_class": cls,
                            "name": _LANDUSE_NAMES[cls], "geometry": site})  # fmt: skip
            blocked = blocked.union(site.buffer(12))
        # Buildings on a rotated lattice of sites, outside roads, rivers and land use.
        if village:
            target = int(sub.integers(150, 900) * scale)
            dx, dy, bw, bh, hh_choices = 30.0, 24.0, 22.0, 9.0, (3, 4, 5, 6, 7, 8)
        else:
            target = int(sub.integers(1800, 4500) * scale)
            dx, dy, bw, bh, hh_choices = 52.0, 40.0, 42.0, 14.0, (18, 24, 36, 48, 60, 72, 96)
        sites = _lattice(poly.buffer(-(bw / 2 + 4)), dx, dy, angle, sub)
        if len(sites):
            free = ~shapely.intersects(shapely.buffer(sites, bw / 2), blocked)
            sites = sites[free]
        sub.shuffle(sites)
        total = 0
        chosen = []
        for pt in sites:
            if total >= target:
                break
            hh = int(sub.choice(hh_choices))
            chosen.append((pt, hh))
            total += hh
        chosen.sort(key=lambda t: (-round(t[0].y), round(t[0].x)))
        for k, (pt, hh) in enumerate(chosen, start=1):
            res = int(round(hh * sub.uniform(2.2, 3.2)))
            buildings.append({"building_id": f"{code}-B{k:04d}", "households": hh, "residents": res,
                              "community_code": code, "geometry": _rect(pt.x, pt.y, bw, bh, angle)})  # fmt: skip

    def frame(rows, columns):
        if not rows:
            return gpd.GeoDataFrame(
                {c: pd.Series(dtype=object) for c in columns},
                geometry=gpd.GeoSeries([], crs=crs),
                crs=crs,
            )
        return gpd.GeoDataFrame(rows, crs=crs)

    out = {
        "communities": com[["community_code", "name", "geometry"]],
        "buildings": frame(buildings, ["building_id", "households", "residents", "community_code"]),
        "landuse": frame(landuse, ["landuse_id", "landuse_class", "name"]),
        "roads": frame(roads, ["road_id", "name"]),
        "rivers": frame(
            [{"river_id": "R1", "name": "河流", "geometry": river}] if river is not None else [],
            ["river_id", "name"],
        ),
    }
    result = {}
    for name, gdf in out.items():
        g = gdf.to_crs(OUTPUT_CRS)
        g = g.set_geometry(snap(g.geometry.values, 1e-7))
        result[name] = g.reset_index(drop=True)
    return result


_LANDUSE_NAMES = {
    "school": "学校", "hospital": "医院", "market": "农贸市场", "park": "公园", "factory": "厂区",
    "industrial_park": "工业园区", "mountain": "山体", "forest": "林地", "construction_site": "建设工地",
    "reservoir": "水库", "lake": "湖泊", "office_building": "商务楼宇",
}  # fmt: skip


def _landuse_wishes(
    village: bool, rng: np.random.Generator
) -> list[tuple[str, tuple[float, float]]]:
    wishes = []
    odds = (
        {"mountain": 0.45, "forest": 0.2, "reservoir": 0.12, "factory": 0.12, "school": 0.15, "construction_site": 0.1}
        if village
        else {"school": 0.6, "hospital": 0.25, "market": 0.3, "park": 0.2, "construction_site": 0.2,
              "office_building": 0.15, "mountain": 0.1, "lake": 0.05}
    )  # fmt: skip
    sizes = {
        "mountain": (420, 320), "forest": (300, 220), "reservoir": (260, 180), "lake": (160, 120),
        "factory": (160, 120), "school": (150, 110), "hospital": (110, 80), "market": (70, 50),
        "park": (150, 120), "construction_site": (120, 90), "office_building": (50, 40),
    }  # fmt: skip
    for cls, p in odds.items():
        if rng.random() < p:
            w, h = sizes[cls]
            wishes.append((cls, (w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2))))
    return wishes


def _free_site(poly, blocked, w, h, angle, rng):
    inner = poly.buffer(-min(w, h) / 3)
    if inner.is_empty:
        return None
    minx, miny, maxx, maxy = inner.bounds
    for _ in range(40):
        cx, cy = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not inner.contains(shapely.Point(cx, cy)):
            continue
        r = _rect(cx, cy, w, h, angle)
        if r.intersection(poly).area > 0.7 * r.area and not r.intersects(blocked):
            return r
    return None


def _blob(rect, rng):
    c = rect.centroid
    pts = shapely.get_coordinates(rect.exterior.segmentize(rect.length / 24))[:-1]
    jitter = rng.uniform(0.75, 1.05, len(pts))
    xy = c.x + (pts[:, 0] - c.x) * jitter, c.y + (pts[:, 1] - c.y) * jitter
    return shapely.Polygon(np.column_stack(xy)).buffer(0).simplify(2.0)


def _lattice(area, dx, dy, angle, rng):
    if area.is_empty:
        return np.array([], dtype=object)
    c = area.centroid
    rot = affinity.rotate(area, -angle, origin=c)
    minx, miny, maxx, maxy = rot.bounds
    ox, oy = rng.uniform(0, dx), rng.uniform(0, dy)
    xs = np.arange(minx + ox, maxx, dx)
    ys = np.arange(miny + oy, maxy, dy)
    gx, gy = np.meshgrid(xs, ys)
    pts = shapely.points(gx.ravel(), gy.ravel())
    pts = pts[shapely.contains_xy(rot, gx.ravel(), gy.ravel())]
    return np.array([affinity.rotate(p, angle, origin=c) for p in pts], dtype=object)


def _roads(com, district, rng):
    """Main roads: straight lines across the district about every 450 m in town, 1.5 km outside."""
    roads = []
    minx, miny, maxx, maxy = district.bounds
    urban_area = shapely.union_all(
        [g for c, g in zip(com["community_code"], com.geometry, strict=True) if int(c[9:12]) < 200]
        or [shapely.Polygon()]
    )
    k = 0
    for area, step, prefix in (
        (urban_area, 450.0, "路"),
        (district.difference(urban_area.buffer(50)), 1500.0, "公路"),
    ):
        if area.is_empty:
            continue
        ax0, ay0, ax1, ay1 = area.bounds
        angle = rng.uniform(-12, 12)
        for x in np.arange(ax0 + rng.uniform(0.3, 0.7) * step, ax1, step):
            line = affinity.rotate(
                shapely.LineString([(x, ay0 - 500), (x, ay1 + 500)]), angle, origin=area.centroid
            )
            for part in shapely.get_parts(line.intersection(area)):
                if part.length > 100:
                    k += 1
                    roads.append(
                        {"road_id": f"RD{k:04d}", "name": f"南北{k}{prefix}", "geometry": part}
                    )
        for y in np.arange(ay0 + rng.uniform(0.3, 0.7) * step, ay1, step):
            line = affinity.rotate(
                shapely.LineString([(ax0 - 500, y), (ax1 + 500, y)]), angle, origin=area.centroid
            )
            for part in shapely.get_parts(line.intersection(area)):
                if part.length > 100:
                    k += 1
                    roads.append(
                        {"road_id": f"RD{k:04d}", "name": f"东西{k}{prefix}", "geometry": part}
                    )
    return roads


def _river(com, district, rng):
    villages = [
        g for c, g in zip(com["community_code"], com.geometry, strict=True) if int(c[9:12]) >= 200
    ]
    if len(villages) < 4:
        return None
    area = shapely.union_all(villages)
    minx, miny, maxx, maxy = area.bounds
    xs = np.linspace(minx - 100, maxx + 100, 40)
    mid = (miny + maxy) / 2 + rng.uniform(-0.15, 0.15) * (maxy - miny)
    ys = mid + np.cumsum(rng.normal(0, (maxy - miny) / 60, len(xs)))
    line = shapely.LineString(np.column_stack([xs, ys])).intersection(area)
    parts = [p for p in shapely.get_parts(line) if p.length > 200]
    if not parts:
        return None
    return max(parts, key=lambda p: p.length)


def qingdao_sample(*, seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    """The embedded sample: 阜新路街道 (市北区, urban) and 宝山镇 (黄岛区, rural), real codes and names.

    Parameters
    ----------
    seed : int
        Seed of every generated part.

    Returns
    -------
    dict
        Layers as from :func:`generate_layers`.
    """
    return generate_layers(community_frame(SAMPLE_STREETS, seed=seed), seed=seed)


def qingdao_city(
    *, seed: int = 0, counties: list[str] | None = None, scale: float = 1.0
) -> dict[str, gpd.GeoDataFrame]:
    """A generated Qingdao-scale city on the real frame: every real community and village.

    Parameters
    ----------
    seed : int
        Seed of every generated part.
    counties : list of str, optional
        6-digit county codes to limit the city to (default: all ten).
    scale : float
        Household multiplier; 1.0 gives about 3.5 million households city-wide.

    Returns
    -------
    dict
        Layers as from :func:`generate_layers`.
    """
    return generate_layers(community_frame(city_towns(counties), seed=seed), seed=seed, scale=scale)


def city_towns(counties: list[str] | None = None) -> list[str]:
    """The street and town codes of Qingdao that have communities or villages, in code order.

    Parameters
    ----------
    counties : list of str, optional
        6-digit county codes to keep (default: all ten).

    Returns
    -------
    list of str
        12-digit codes, ready for :func:`community_frame`.
    """
    table = load_divisions()
    towns = table[table["level"] == "town"].index
    if counties:
        towns = [t for t in towns if t[:6] in set(counties)]
    has_members = set(table["parent"].dropna())
    return sorted(t for t in towns if t in has_members)


def lattice_graph(side: int, *, seed: int = 0, low: int = 10, high: int = 80):
    """A square rook lattice with random household weights, as in the spopt comparison.

    Parameters
    ----------
    side : int
        Cells per side (``side**2`` nodes).
    seed : int
        Seed of the weights.
    low, high : int
        Households per cell are drawn uniformly from ``[low, high]``.

    Returns
    -------
    networkx.Graph
        Nodes ``(row, col)`` with attribute ``households``.
    """
    import networkx as nx

    rng = np.random.default_rng(seed)
    g = nx.grid_2d_graph(side, side)
    for node in sorted(g.nodes):
        g.nodes[node]["households"] = int(rng.integers(low, high + 1))
    return g


#: The real-footprint corpus: momepy's Bubeneč (Prague) footprints and streets, cut into three
#: communities along its streets (west to east) and given codes of the sample's street.
REAL_CODES = ("370203026002", "370203026004", "370203026015")
#: Where the communities of the real corpus are cut (UTM 33N easting of a block's centroid, m).
_REAL_CUTS = (457230.0, 457390.0)
#: Dedicated sites of the real corpus: (class, name, where) where a site is the enclosed
#: tessellation cell of the n-th largest building (a courtyard school, an office, a market) or
#: a whole street block without buildings (a park).
_REAL_SITES = (
    ("school", "Bubeneč school", ("cell", 0)),
    ("office_building", "Office on Čechova", ("footprint", 40)),
    ("market", "Market hall", ("cell", 12)),
    ("park", "Letná park", ("block", 0)),
)


def bubenec_layers(
    *, seed: int = 0, floor_area_m2: float = 70.0, household_size: float = 2.3
) -> dict[str, gpd.GeoDataFrame]:
    """Real footprints and streets of a Prague district, as a planner's input layers.

    momepy ships 144 real building footprints and 35 street centrelines of Bubeneč
    (``momepy.datasets.get_path("bubenec")``, EPSG:3857). They are reprojected to UTM 33N
    (true metres), cut into three communities along the streets, and given levels (3–7,
    seeded), households estimated from footprint area × levels ÷ ``floor_area_m2`` and
    residents from households × ``household_size``
    (:func:`gridgeo.validate.estimate_households`). Four dedicated sites of different sizes are
    added (a school and a market as the tessellation cell of a building, an office as a bare
    footprint, a park as a street block without buildings).

    Parameters
    ----------
    seed : int
        Seed of the levels.
    floor_area_m2 : float
        Floor area per household (m²).
    household_size : float
        Residents per household.

    Returns
    -------
    dict
        ``communities``, ``buildings`` (with ``levels`` and ``households_estimated``),
        ``landuse``, ``roads`` in WGS 84 longitude/latitude (EPSG:4326), the CRS a planner
        gets from OpenStreetMap.
    """
    import momepy

    from gridgeo.validate import estimate_households

    path = momepy.datasets.get_path("bubenec")
    utm = CRS.from_epsg(32633)
    bld = gpd.read_file(path, layer="buildings").to_crs(utm)
    streets = gpd.read_file(path, layer="streets").to_crs(utm)
    cells = gpd.read_file(path, layer="tessellation").to_crs(utm)
    hull = gpd.GeoSeries([streets.union_all().convex_hull], crs=utm)
    blocks = momepy.enclosures(streets, limit=hull)
    blocks = blocks.assign(x=blocks.centroid.x, y=blocks.centroid.y).sort_values(["x", "y"])
    group = np.searchsorted(np.array(_REAL_CUTS), blocks["x"].to_numpy())
    polys = [snap(shapely.union_all(blocks.geometry.values[group == k]), 0.01) for k in range(3)]
    divisions = load_divisions()
    communities = gpd.GeoDataFrame(
        {"community_code": list(REAL_CODES),
         "name": [str(divisions.at[c, "name"]) for c in REAL_CODES]},
        geometry=polys, crs=utm,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    order = np.argsort(-bld.area.to_numpy(), kind="stable")
    buildings = gpd.GeoDataFrame(
        {"building_id": [f"BUB-{int(u):04d}" for u in bld["uID"]],
         "levels": rng.integers(3, 8, len(bld))},
        geometry=bld.geometry.values, crs=utm,
    )  # fmt: skip
    buildings = estimate_households(
        buildings, floor_area_m2=floor_area_m2, household_size=household_size
    )
    cell_of = dict(zip(cells["uID"], cells.geometry.values, strict=True))
    empty = blocks[~blocks.intersects(bld.union_all())]
    empty = empty.iloc[np.argsort(-empty.area.to_numpy(), kind="stable")]
    sites = []
    for k, (cls, name, (how, n)) in enumerate(_REAL_SITES, start=1):
        if how == "block":
            geom = empty.geometry.values[n].buffer(-1.0)
        else:
            uid = int(bld["uID"].iloc[order[n]])
            geom = cell_of[uid] if how == "cell" else bld.geometry.values[order[n]]
        sites.append({"landuse_id": f"BUB-LU{k}", "landuse_class": cls, "name": name,
                      "geometry": geom})  # fmt: skip
    landuse = gpd.GeoDataFrame(sites, crs=utm)
    roads = gpd.GeoDataFrame(
        {"road_id": [f"BUB-R{i + 1:02d}" for i in range(len(streets))]},
        geometry=streets.geometry.values, crs=utm,
    )
    wgs = CRS.from_epsg(4326)
    return {
        "communities": communities.to_crs(wgs),
        "buildings": buildings.to_crs(wgs),
        "landuse": landuse.to_crs(wgs),
        "roads": roads.to_crs(wgs),
    }
