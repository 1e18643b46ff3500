"""The work CRS: a CGCS2000 Gauss-Krueger zone from the data, whatever the input CRS."""

from __future__ import annotations

import geopandas as gpd
import pytest
from pyproj import CRS
from shapely.geometry import box

from gridgeo.district import metric_crs
from gridgeo.validate import validate_layers

QINGDAO = box(120.30, 36.05, 120.34, 36.08)  # lon/lat, CGCS2000 ~ WGS 84


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4326", "EPSG:3857", "EPSG:32651", "EPSG:4548",
                                 "EPSG:4549", "EPSG:4528"])  # fmt: skip
def test_work_crs_is_the_gauss_krueger_zone_of_the_data(crs):
    layer = gpd.GeoSeries([QINGDAO], crs=4326).to_crs(crs)
    assert metric_crs(layer).to_epsg() == 4549  # CM 120 E


def test_zone_follows_the_central_meridian():
    urumqi = gpd.GeoSeries([box(87.5, 43.7, 87.7, 43.9)], crs=4490).to_crs(3857)
    assert metric_crs(urumqi).to_epsg() == 4534 + (87 - 75) // 3
    paris = gpd.GeoSeries([box(2.2, 48.8, 2.4, 48.9)], crs=4326)
    assert CRS.from_user_input(metric_crs(paris)).utm_zone == "31N"


def test_web_mercator_inputs_give_true_areas(sample_layers):
    truth = validate_layers(sample_layers)
    mercator = {name: g.to_crs(3857) for name, g in sample_layers.items()}
    district = validate_layers(mercator)
    assert district.work_crs.to_epsg() == 4549
    assert district.crs.to_epsg() == 3857  # outputs stay in the caller's CRS
    ratio = district.communities.area.sum() / truth.communities.area.sum()
    assert abs(ratio - 1) < 1e-3


def test_non_finite_coordinates_are_an_input_error():
    import numpy as np
    from shapely.geometry import Point

    from gridgeo.errors import InputError

    with pytest.raises(InputError, match="not finite"):
        metric_crs(gpd.GeoSeries([Point(120.3, 36.0), Point(np.inf, 36.0)], crs=4490))
    with pytest.raises(InputError, match="not finite"):
        metric_crs(gpd.GeoSeries([], crs=4490))
    assert metric_crs(gpd.GeoSeries([], crs=4549)).to_epsg() == 4549  # nothing to measure
