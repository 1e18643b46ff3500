"""WGS 84 / CGCS2000 to GCJ-02 (the "Mars" coordinates of 高德 and 腾讯 tiles).

Chinese web maps (高德 AMap, 腾讯 Tencent) publish their tiles in GCJ-02, the obfuscated system
of the national survey office: a point given in WGS 84 (or CGCS2000, which differs from it by
less than a metre) lands some 460-500 m off on those tiles in Qingdao, about one grid's width.
This module implements the standard, published forward transform (the one of the open
``eviltransform`` and ``coordtransform`` projects, on the Krasovsky ellipsoid) so that overlays
can be shifted onto such tiles, and its numerical inverse. Outside mainland China's bounding
box the offset is zero, as the tile providers do.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

#: Semi-major axis (m) and first eccentricity squared of the Krasovsky 1940 ellipsoid.
_A = 6378245.0
_EE = 0.00669342162296594323
#: The rectangle (lon, lat) inside which the offset applies.
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)


def out_of_china(lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
    """Whether each point lies outside the box where GCJ-02 differs from WGS 84."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x0, y0, x1, y1 = CHINA_BOX
    return ~((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))


def _raw_offset(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published polynomial-and-sine offsets (in its own units) at lon-105, lat-35."""
    px, py = x * np.pi, y * np.pi
    common = (20.0 * np.sin(6.0 * px) + 20.0 * np.sin(2.0 * px)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(py) + 40.0 * np.sin(py / 3.0)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(py / 12.0) + 320.0 * np.sin(py / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(px) + 40.0 * np.sin(px / 3.0)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(px / 12.0) + 300.0 * np.sin(px / 30.0)) * 2.0 / 3.0
    return dlon, dlat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Transform WGS 84 (or CGCS2000) longitude/latitude to GCJ-02.

    Parameters
    ----------
    lon, lat : float or array-like
        Degrees.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitude and latitude, degrees (unchanged outside China).
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _raw_offset(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def gcj02_to_wgs84(lon, lat, *, tolerance: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (to ``tolerance`` degrees).

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 degrees.
    tolerance : float
        Stop when no point moves more than this (1e-9 degree is about 0.1 mm).

    Returns
    -------
    tuple of numpy.ndarray
        WGS 84 longitude and latitude, degrees.
    """
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):  # the offset's gradient is tiny: a handful of steps reach 1e-9
        tlon, tlat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = tlon - glon, tlat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if max(np.max(np.abs(elon), initial=0.0), np.max(np.abs(elat), initial=0.0)) < tolerance:
            break
    return wlon, wlat


def to_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of a layer in GCJ-02 lon/lat, to draw on 高德 / 腾讯 tiles.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Any CRS (it is first taken to WGS 84 lon/lat; CGCS2000 differs by < 1 m).

    Returns
    -------
    geopandas.GeoDataFrame
        Same rows and columns; coordinates shifted to GCJ-02. The CRS stays EPSG:4326: GCJ-02
        has no EPSG code, and the frame is meant only for drawing on such tiles.
    """
    out = gdf.to_crs(4326) if gdf.crs is not None else gdf.copy()

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    moved = gpd.GeoSeries(shapely.transform(out.geometry.values, shift), index=out.index, crs=out.crs)
    return out.set_geometry(moved)
