"""The validated input of one run: a district's layers, in one CRS, with the findings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gridgeo.errors import InputError, Problem

#: Columns of every findings layer (validation, coverage proof, audit).
FINDING_COLUMNS = ["rule", "severity", "source", "feature_id", "message", "lon", "lat"]


def empty_findings(crs: CRS | None = None) -> gpd.GeoDataFrame:
    """Return an empty findings GeoDataFrame with the standard columns."""
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in FINDING_COLUMNS},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Choose the metric CRS for geometry work on ``gdf``: a Gauss–Krüger zone from the data.

    Whatever the input CRS (longitude/latitude, Web Mercator, UTM, another zone), the work CRS
    is the CGCS2000 3-degree Gauss–Krüger zone whose central meridian is nearest the data's
    centre (EPSG:4534–4554, CM 75°E to 135°E; Qingdao falls in CM 120°E, EPSG:4549): a
    transverse Mercator within 1.5° of its meridian distorts lengths by less than 0.04 % and
    areas by less than 0.07 %, where Web Mercator at 36°N makes areas 1.53 times too large.
    Data outside China's span get their UTM zone.

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        Data with a CRS.

    Returns
    -------
    pyproj.CRS
        The work CRS, in metres.

    Raises
    ------
    pyproj.exceptions.CRSError
        When ``gdf`` has no CRS.
    InputError
        When the data have no finite coordinates (empty, or inf/NaN).
    """
    crs = CRS.from_user_input(gdf.crs)
    wgs84 = CRS.from_epsg(4326)
    bounds = gdf.total_bounds
    if np.isnan(bounds).all() and crs.is_projected and crs.axis_info[0].unit_name in ("metre", "meter"):
        return crs  # no geometry to measure: any metric CRS does
    if not np.isfinite(bounds).all():
        raise InputError([Problem(str(gdf.attrs.get("source", "input")), None,
                                  "coordinates are missing or not finite (inf/NaN): no work CRS can be "
                                  "chosen; repair the geometries")])  # fmt: skip
    if crs.equals(wgs84):
        minx, miny, maxx, maxy = bounds
    else:
        # The bounds alone are transformed (densified edges): the layer itself is not.
        to_lonlat = Transformer.from_crs(crs, wgs84, always_xy=True)
        minx, miny, maxx, maxy = to_lonlat.transform_bounds(*bounds, densify_pts=21)
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    cm = 3 * round(lon / 3)
    if 75 <= cm <= 135 and -10 <= lat <= 60:
        zone = CRS.from_epsg(4534 + (cm - 75) // 3)
        return crs if crs.equals(zone) else zone
    return gpd.GeoSeries([shapely.box(minx, miny, maxx, maxy)], crs=wgs84).estimate_utm_crs()


@dataclass
class District:
    """A district's validated layers, all in one metric CRS for geometry work.

    Attributes
    ----------
    communities : GeoDataFrame
        ``community_code`` (str, 12 digits), ``name``, ``is_village`` (bool), geometry.
    buildings : GeoDataFrame
        ``building_id`` (str), ``households``, ``residents`` (int), ``community_code`` (the
        community the building lies in), geometry (polygon or point).
    landuse : GeoDataFrame
        ``landuse_id`` (str), ``landuse_class``, ``category`` (``absorbable``/``dedicated``),
        ``name``, geometry.
    roads, rivers : GeoDataFrame
        Lines (rivers may be polygons) that grid boundaries should follow.
    grids : GeoDataFrame or None
        An existing grid layer, when given.
    crs : pyproj.CRS
        The CRS of the input files: outputs are written in it.
    findings : GeoDataFrame
        Warnings found while validating (errors raise instead).
    sources : dict
        Layer name -> file label.
    """

    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    rivers: gpd.GeoDataFrame
    crs: CRS
    grids: gpd.GeoDataFrame | None = None
    findings: gpd.GeoDataFrame = field(default_factory=empty_findings)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def work_crs(self) -> CRS:
        """The metric CRS the layers are held in."""
        return CRS.from_user_input(self.communities.crs)

    def subset(self, community_codes: list[str] | set[str]) -> District:
        """Return a district holding only the given communities and what lies in them."""
        codes = set(community_codes)
        com = self.communities[self.communities["community_code"].isin(codes)]
        bld = self.buildings[self.buildings["community_code"].isin(codes)]
        area = com.union_all() if len(com) else None

        def near(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
            if area is None or g.empty:
                return g.iloc[0:0]
            return g[g.intersects(area)]

        return replace(self, communities=com, buildings=bld, landuse=near(self.landuse),
                       roads=near(self.roads), rivers=near(self.rivers))
