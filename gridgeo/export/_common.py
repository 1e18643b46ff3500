"""Helpers shared by the export modules: checking a grid layer, naming, role labels."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from gridgeo.errors import InputError, Problem
from gridgeo.schema import grid_layer_problems

#: Role keys of a staff plan and how a notice board names them (规范 三.1, 办法 9).
ROLE_LABELS: dict[str, str] = {
    "leader": "网格长",
    "instructor": "网格指导员",
    "full_time": "专职网格员",
    "part_time": "兼职网格员",
}

#: Order in which roles are listed on a board or a tooltip.
ROLE_ORDER = ("leader", "full_time", "part_time", "instructor")

#: The duties a board shows for a worker whose roster row gives none (规范 附件1, 办法 7).
DEFAULT_DUTIES: dict[str, str] = {
    "leader": "统筹网格工作，调度网格员，组织民情分析会",
    "instructor": "指导相邻网格工作，协调解决网格上报问题",
    "full_time": "基础信息采集、社情民意收集、安全隐患排查、矛盾纠纷化解、法律法规宣传、公共服务代办",
    "part_time": "协助网格员开展信息采集、隐患排查、矛盾调解和政策宣传",
}


def grid_key(grids: pd.DataFrame) -> str:
    """The column that names a grid: ``grid_code`` when present, else ``grid_id``."""
    if "grid_code" in grids.columns:
        return "grid_code"
    if "grid_id" in grids.columns:
        return "grid_id"
    raise InputError([Problem("grids", None, "the grid layer has neither grid_code nor grid_id")])


def check_grids(
    grids: gpd.GeoDataFrame, *, source: str = "grids", need: tuple[str, ...] = ()
) -> str:
    """Check what every export needs of a grid layer; return its key column.

    Raises
    ------
    InputError
        Listing every missing column, a missing CRS, empty or duplicate grid keys.
    """
    if not isinstance(grids, gpd.GeoDataFrame):
        raise InputError([Problem(source, None, "expected a GeoDataFrame of grids")])
    try:
        key = grid_key(grids)
        problems: list[Problem] = []
    except InputError as exc:
        problems, key = list(exc.problems), None
    problems += grid_layer_problems(grids, source=source, need=need, key=key)
    if problems:
        raise InputError(problems)
    return key


def street_of(community_code: str) -> str:
    """The 9-digit street (街道/镇) prefix of a 12-digit community code."""
    return str(community_code)[:9]


def to_lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` in WGS 84 lon/lat (what Leaflet draws); CGCS2000 differs by < 1 m."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)):
        return gdf.copy()
    return gdf.to_crs(4326)
