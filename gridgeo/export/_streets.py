"""The vector basemap drawn from the inputs: roads, rivers and communities with their names.

Residents find their grid by the street it lies on, so the map page and every board's inset
draw the district's own ``roads`` and ``rivers`` layers (and the community boundaries) with
their names; no tile server is needed. A name is placed once per stretch: the lines of one
name are merged and the label sits at the middle of the longest stretch, turned along it.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import linemerge

#: Stretches shorter than this (m) get no label of their own.
MIN_LABEL_LENGTH = 60.0
#: A name within this many degrees of level or upright is set exactly so.
SNAP_DEGREES = 5.0


def layer_of(district: Any, name: str) -> gpd.GeoDataFrame | None:
    """The district's ``roads``/``rivers``/``communities`` layer when it has rows and a CRS."""
    layer = getattr(district, name, None)
    if layer is None or not isinstance(layer, gpd.GeoDataFrame) or not len(layer) or layer.crs is None:
        return None
    return layer[layer.geometry.notna() & ~layer.geometry.is_empty]


def _names(layer: gpd.GeoDataFrame) -> pd.Series:
    if "name" not in layer:
        return pd.Series("", index=layer.index)
    return layer["name"].fillna("").astype(str).str.strip()


def named_lines(layer: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """One row per name: the lines of that name merged, in ``crs`` (metric).

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        Roads or rivers (lines; polygons are reduced to their outline).
    crs : pyproj.CRS or str
        A metric CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name`` and geometry (a LineString or MultiLineString); unnamed lines are dropped.
    """
    g = layer.to_crs(crs)
    names = _names(g)
    rows, geoms = [], []
    for name in sorted(set(names[names != ""])):
        part = g.geometry[names == name].values
        outlines = [shapely.boundary(p) if p.geom_type.endswith("Polygon") else p for p in part]
        lines = shapely.union_all(outlines)
        if lines.geom_type == "MultiLineString":
            lines = linemerge(lines)
        rows.append(name)
        geoms.append(lines)
    return gpd.GeoDataFrame({"name": rows}, geometry=geoms, crs=crs)


def label_points(lines: gpd.GeoDataFrame, *, view: shapely.Geometry | None = None,
                 min_length: float = MIN_LABEL_LENGTH) -> gpd.GeoDataFrame:  # fmt: skip
    """Where each name is written: the middle of its longest stretch (inside ``view``).

    Parameters
    ----------
    lines : geopandas.GeoDataFrame
        The output of :func:`named_lines` (metric CRS).
    view : shapely geometry, optional
        Only the part of each line inside it counts (a board's map frame).
    min_length : float
        Stretches shorter than this (m) are not labelled.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``angle`` (degrees, turned to read left to right) and the label point.
    """
    names, angles, points = [], [], []
    for name, geom in zip(lines["name"], lines.geometry, strict=True):
        if view is not None:
            geom = shapely.intersection(geom, view)
        parts = [p for p in getattr(geom, "geoms", [geom]) if p.geom_type == "LineString" and not p.is_empty]
        if not parts:
            continue
        longest = max(parts, key=lambda p: (p.length, p.wkb))
        if longest.length < min_length:
            continue
        mid = longest.interpolate(0.5, normalized=True)
        a = longest.interpolate(max(0.0, longest.length / 2 - 10))
        b = longest.interpolate(min(longest.length, longest.length / 2 + 10))
        angle = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
        if angle > 90:
            angle -= 180
        elif angle <= -90:
            angle += 180
        # A nearly straight east-west or north-south street is written level or upright.
        for square in (-90.0, 0.0, 90.0):
            if abs(angle - square) <= SNAP_DEGREES:
                angle = 90.0 if square == -90.0 else square
        names.append(name)
        angles.append(round(angle, 1))
        points.append(mid)
    return gpd.GeoDataFrame({"name": names, "angle": np.asarray(angles, dtype=float)},
                            geometry=points, crs=lines.crs)  # fmt: skip
