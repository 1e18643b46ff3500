"""The input model: what a planner brings, in gridgeo's own column names.

Each layer has canonical column names; real files use others (户数, 人口, 社区代码 ...), so a
column mapping translates them. :data:`ALIASES` lists the names recognised without any
mapping; anything else is given on the command line (``--map households=HH``) or in a TOML
config file (see :func:`gridgeo.io.read_config`).

Layers
------
communities (required)
    Polygon/MultiPolygon. ``community_code`` (12-digit NBS statistical division code,
    统计用区划代码), ``name``.
buildings (required)
    Polygon/MultiPolygon footprints or Points. ``building_id``, ``households`` (户数, resident
    households), ``residents`` (人口, resident people); optional ``community_code``.
landuse (optional)
    Polygon/MultiPolygon. ``landuse_id``, ``landuse_class`` (see :data:`ABSORBABLE` and
    :data:`DEDICATED`), optional ``name``.
roads, rivers (optional)
    LineString/MultiLineString (rivers may also be polygons). Grid boundaries prefer them.
grids (optional)
    An existing grid layer to audit or keep stable: ``grid_id``, optional ``grid_code``,
    optional ``community_code``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Land-use classes absorbed into community grids (R3): unpopulated land with no grid of its own.
ABSORBABLE: frozenset[str] = frozenset(
    {
        "mountain",
        "forest",
        "construction_site",
        "reservoir",
        "lake",
        "water",
        "wetland",
        "farmland",
        "green_space",
        "vacant_land",
        "beach",
    }
)

#: Land-use classes that become dedicated grids (R4) of their own.
DEDICATED: frozenset[str] = frozenset(
    {
        "school",
        "hospital",
        "park",
        "industrial_park",
        "factory",
        "market",
        "business_district",
        "office_building",
        "scenic_area",
        "government",
        "military",
        "transport_hub",
    }
)

#: Chinese and common English names of land-use classes, mapped to gridgeo's classes.
LANDUSE_SYNONYMS: dict[str, str] = {
    "山体": "mountain", "山地": "mountain", "山林": "forest", "林地": "forest",
    "建设工地": "construction_site", "工地": "construction_site", "在建工地": "construction_site",
    "水库": "reservoir", "湖泊": "lake", "湖": "lake", "水域": "water", "河流": "water",
    "湿地": "wetland", "耕地": "farmland", "农田": "farmland", "绿地": "green_space",
    "空地": "vacant_land", "闲置地": "vacant_land", "海滩": "beach", "沙滩": "beach",
    "学校": "school", "中学": "school", "小学": "school", "幼儿园": "school",
    "医院": "hospital", "卫生院": "hospital", "公园": "park",
    "园区": "industrial_park", "工业园区": "industrial_park", "产业园": "industrial_park",
    "厂区": "factory", "工厂": "factory", "企业": "factory",
    "市场": "market", "商圈": "business_district", "商圈市场": "market",
    "商务楼宇": "office_building", "写字楼": "office_building", "楼宇": "office_building",
    "景区": "scenic_area", "机关": "government", "党政机关": "government",
    "部队": "military", "车站": "transport_hub", "交通枢纽": "transport_hub",
    "construction site": "construction_site", "industrial park": "industrial_park",
    "office building": "office_building", "scenic area": "scenic_area",
    "business district": "business_district", "green space": "green_space",
}  # fmt: skip


#: OpenStreetMap values of the ``landuse``, ``natural``, ``leisure``, ``amenity``, ``water`` and
#: ``building`` tags, mapped to gridgeo's classes; given bare (``grass``) or as ``key=value``.
OSM_LANDUSE: dict[str, str] = {
    "construction": "construction_site", "brownfield": "vacant_land", "greenfield": "vacant_land",
    "forest": "forest", "wood": "forest", "scrub": "forest", "heath": "green_space",
    "grass": "green_space", "meadow": "green_space", "village_green": "green_space",
    "recreation_ground": "green_space", "garden": "green_space", "cemetery": "green_space",
    "farmland": "farmland", "farmyard": "farmland", "orchard": "farmland", "vineyard": "farmland",
    "allotments": "farmland", "greenhouse_horticulture": "farmland",
    "basin": "reservoir", "reservoir": "reservoir", "pond": "lake", "lake": "lake",
    "water": "water", "river": "water", "canal": "water", "stream": "water", "riverbank": "water",
    "wetland": "wetland", "beach": "beach", "sand": "beach", "bare_rock": "mountain",
    "peak": "mountain", "ridge": "mountain", "cliff": "mountain",
    "school": "school", "kindergarten": "school", "university": "school", "college": "school",
    "hospital": "hospital", "clinic": "hospital",
    "park": "park", "nature_reserve": "scenic_area", "zoo": "scenic_area",
    "theme_park": "scenic_area", "attraction": "scenic_area",
    "marketplace": "market", "retail": "market", "commercial": "office_building",
    "office": "office_building", "industrial": "industrial_park", "factory": "factory",
    "works": "factory", "townhall": "government", "government": "government",
    "military": "military", "station": "transport_hub", "railway": "transport_hub",
    "bus_station": "transport_hub",
}  # fmt: skip


@dataclass(frozen=True)
class LayerSpec:
    """What gridgeo expects of one input layer.

    Attributes
    ----------
    name : str
        The layer's name in gridgeo (``communities``, ``buildings`` ...).
    id_column : str
        The canonical id column (generated from the row number when the file has none).
    required : tuple of str
        Canonical columns that must be present.
    optional : tuple of str
        Canonical columns kept when present.
    geometry : tuple of str
        Allowed geometry families (``Polygon``, ``Point``, ``LineString``).
    """

    name: str
    id_column: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    geometry: tuple[str, ...]


LAYERS: dict[str, LayerSpec] = {
    "communities": LayerSpec(
        "communities", "community_code", ("community_code",), ("name",), ("Polygon",)
    ),
    "buildings": LayerSpec(
        "buildings",
        "building_id",
        ("households", "residents"),
        ("community_code", "name", "households_estimated"),
        ("Polygon", "Point"),
    ),
    "landuse": LayerSpec("landuse", "landuse_id", ("landuse_class",), ("name",), ("Polygon",)),
    "roads": LayerSpec("roads", "road_id", (), ("name",), ("LineString",)),
    "rivers": LayerSpec("rivers", "river_id", (), ("name",), ("LineString", "Polygon")),
    "grids": LayerSpec(
        "grids", "grid_id", (), ("grid_code", "community_code", "name"), ("Polygon",)
    ),
}

#: Column names real data uses, recognised without a mapping (compared case-insensitively).
ALIASES: dict[str, dict[str, str]] = {
    "communities": {
        "社区代码": "community_code", "村代码": "community_code", "统计用区划代码": "community_code",
        "区划代码": "community_code", "code": "community_code", "社区名称": "name",
        "村名称": "name", "名称": "name",
    },
    "buildings": {
        "户数": "households", "常住户数": "households", "hh": "households",
        "人口": "residents", "常住人口": "residents", "人数": "residents", "population": "residents",
        "pop": "residents", "楼栋编号": "building_id", "建筑编号": "building_id", "id": "building_id",
        "社区代码": "community_code", "名称": "name",
    },
    "landuse": {
        "用地类型": "landuse_class", "类型": "landuse_class", "类别": "landuse_class",
        "class": "landuse_class", "编号": "landuse_id", "id": "landuse_id", "名称": "name",
    },
    "roads": {"道路编号": "road_id", "id": "road_id", "名称": "name"},
    "rivers": {"河流编号": "river_id", "id": "river_id", "名称": "name"},
    "grids": {"网格编号": "grid_id", "网格编码": "grid_code", "id": "grid_id", "code": "grid_code",
              "社区代码": "community_code", "名称": "name"},
}  # fmt: skip


def normalise_landuse_class(value: object) -> str | None:
    """Map a land-use class as written in a file to gridgeo's class, or None if unknown.

    Parameters
    ----------
    value : object
        The cell, e.g. ``"学校"``, ``"School"``, ``"construction site"`` or an OpenStreetMap
        value (``"grass"``, ``"landuse=construction"``, ``"amenity=marketplace"``, see
        :data:`OSM_LANDUSE`).

    Returns
    -------
    str or None
        A member of :data:`ABSORBABLE` or :data:`DEDICATED`, or None.
    """
    if value is None:
        return None
    text = str(value).strip()
    if text in LANDUSE_SYNONYMS:
        return LANDUSE_SYNONYMS[text]
    low = text.lower().replace("-", "_")
    if low in LANDUSE_SYNONYMS:
        return LANDUSE_SYNONYMS[low]
    low = low.replace(" ", "_")
    if low in ABSORBABLE or low in DEDICATED:
        return low
    for sep in ("=", ":"):
        if sep in low:
            low = low.split(sep, 1)[1].strip()
            break
    if low in ABSORBABLE or low in DEDICATED:
        return low
    return OSM_LANDUSE.get(low)


# -- The grid layer: what every stage after the partition can rely on ------------------------

#: Columns of the grid layer the partitioner writes, in order (``grid_code`` is added by coding).
GRID_COLUMNS: list[str] = [
    "grid_id", "community_code", "community_name", "grid_class", "dedicated_class", "landuse_id",
    "households", "residents", "n_units", "n_buildings", "area_m2", "flag", "solver_status", "geometry",
]  # fmt: skip

#: The values of ``grid_class``.
GRID_CLASSES: tuple[str, ...] = ("community", "dedicated")


def grid_layer_problems(
    grids: object,
    *,
    source: str = "grids",
    need: tuple[str, ...] = (),
    key: str | None = None,
    crs: bool = True,
) -> list:
    """Check a grid layer against the contract the stages share; return every problem.

    The coding stage needs ``grid_id``, ``community_code`` and ``grid_class``; the exports need a
    CRS and a unique key; the coverage proof needs a geometry column and a CRS. Each passes what
    it needs, and all get the same checks and the same messages.

    Parameters
    ----------
    grids : GeoDataFrame
        The layer (not modified).
    source : str
        Name of the layer in messages (a file name, or ``grids``).
    need : tuple of str
        Columns that must be present.
    key : str, optional
        A column whose values must be present and unique (``grid_id`` or ``grid_code``).
    crs : bool
        Require a CRS.

    Returns
    -------
    list of gridgeo.errors.Problem
        Empty when the layer fits.
    """
    import geopandas as gpd

    from gridgeo.errors import Problem
    from gridgeo.i18n import _

    if not isinstance(grids, gpd.GeoDataFrame) or grids.geometry.name not in grids.columns:
        return [Problem(source, None, _("expected a grid layer with a geometry column"))]
    problems = []
    if crs and grids.crs is None:
        problems.append(Problem(source, None, _("the grid layer has no CRS; set one (e.g. EPSG:4490)")))
    missing = [c for c in need if c not in grids.columns]
    if missing:
        problems.append(Problem(source, None, _("missing column(s) {missing}").format(missing=", ".join(map(repr, missing)))))
    if key is not None and key in grids.columns:
        values = grids[key]
        if values.isna().any():
            problems.append(Problem(source, None, _("{n} grid(s) without {key}").format(n=int(values.isna().sum()), key=key)))
        dup = values[values.duplicated() & values.notna()].astype(str).unique()
        for d in dup[:10]:
            problems.append(Problem(source, d, _("{key} {value} appears more than once; each grid needs its own").format(key=key, value=d)))
    return problems


def check_grid_layer(
    grids: object,
    *,
    source: str = "grids",
    need: tuple[str, ...] = (),
    key: str | None = None,
    crs: bool = True,
) -> None:
    """Raise an :class:`~gridgeo.errors.InputError` listing every problem of :func:`grid_layer_problems`.

    Parameters
    ----------
    grids : GeoDataFrame
    source : str
    need : tuple of str
    key : str, optional
    crs : bool

    Raises
    ------
    InputError
        When the layer breaks the contract.
    """
    from gridgeo.errors import InputError

    problems = grid_layer_problems(grids, source=source, need=need, key=key, crs=crs)
    if problems:
        raise InputError(problems)
