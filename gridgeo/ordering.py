"""The reading order of grids: west → east, north → south within a community (and class).

One order for both numberings a planner sees: the partition numbers its grids (``grid_id``
``…-C01``, ``…-C02`` …) in it, and the coding gives serials at first issue in it
(:func:`gridgeo.coding.serial_order`), so that grid C01 carries serial 001.

Within each community (and grid class, when ``by_class``):

1. Each grid is represented by its ``representative_point()`` (always inside the polygon),
   computed in a metric CRS: the layer's own CRS when it is projected in metres, else the UTM
   zone of ``GeoDataFrame.estimate_utm_crs()`` (zone 51N for Qingdao).
2. Points fall in horizontal rows ``band_m`` metres high (default 200 m), counted from the
   northernmost point of the group southwards: ``row = floor((y_max - y) / band_m)``.
3. Rows are taken north to south; inside a row grids go west to east by ``x`` (rounded to the
   centimetre); remaining ties are broken by ``grid_id``.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

#: Height of the rows of the reading order, in metres.
DEFAULT_BAND_M = 200.0


def metric_crs(grids: gpd.GeoDataFrame) -> Any:
    """Return the metric CRS the reading order is computed in.

    The layer's CRS when it is projected with metre units, else the UTM zone estimated
    from the layer's bounds (:meth:`geopandas.GeoDataFrame.estimate_utm_crs`).

    Raises
    ------
    InputError
        When the layer has no CRS.
    """
    crs = grids.crs
    if crs is None:
        raise InputError(
            [Problem("grids", None, _("the grid layer has no CRS; set it (gdf.set_crs(...)) first"))]
        )
    if crs.is_projected and all(a.unit_name in ("metre", "meter") for a in crs.axis_info[:2]):
        return crs
    if not crs.is_geographic:
        return grids.estimate_utm_crs()
    # geopandas asks the PROJ database for the UTM zone of the bounds' centre (50 ms a call, a
    # third of a city community's partition); the answer is the same across a standard 6° zone,
    # so it is asked once per zone and hemisphere (not where Norway's and Svalbard's zones differ).
    minx, miny, maxx, maxy = (float(v) for v in grids.total_bounds)
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    if not (np.isfinite(lon) and np.isfinite(lat)) or 56.0 <= lat <= 84.0:
        return grids.estimate_utm_crs()
    key = (int((lon + 180.0) // 6.0), lat >= 0.0)
    if key not in _UTM:
        _UTM[key] = grids.estimate_utm_crs()
    return _UTM[key]


#: UTM zones found by :func:`metric_crs`: (6° zone index, northern) -> CRS.
_UTM: dict[tuple[int, bool], Any] = {}


def reading_rank(grids: gpd.GeoDataFrame, *, band_m: float = DEFAULT_BAND_M, by_class: bool = True) -> pd.Series:
    """Rank each grid within its community (and class) west → east, north → south.

    Parameters
    ----------
    grids : GeoDataFrame
        Grid layer with ``grid_id``, ``community_code``, ``grid_class`` and polygons, with a CRS.
    band_m : float
        Row height in metres (see the module docstring); positive.
    by_class : bool
        Rank each grid class apart (True) or all grids of a community together.

    Returns
    -------
    pandas.Series
        1-based rank, indexed like ``grids``.
    """
    if len(grids) == 0:
        return pd.Series([], index=grids.index, dtype="int64")
    pts = grids.geometry.to_crs(metric_crs(grids)).representative_point()
    df = pd.DataFrame(
        {
            "community": grids["community_code"].astype(str).to_numpy(),
            "cls": grids["grid_class"].astype(str).to_numpy() if by_class else "",
            "x": np.round(pts.x.to_numpy(), 2),
            "y": pts.y.to_numpy(),
            "grid_id": grids["grid_id"].astype(str).to_numpy(),
        }
    )
    top = df.groupby(["community", "cls"])["y"].transform("max")
    df["row"] = np.floor((top - df["y"]) / band_m).astype("int64")
    df["pos"] = np.arange(len(df))
    df = df.sort_values(["community", "cls", "row", "x", "grid_id"], kind="stable")
    rank = df.groupby(["community", "cls"]).cumcount() + 1
    out = np.empty(len(df), dtype="int64")
    out[df["pos"].to_numpy()] = rank.to_numpy()
    return pd.Series(out, index=grids.index, name="serial_rank")
