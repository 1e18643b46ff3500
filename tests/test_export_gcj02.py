"""The WGS 84 -> GCJ-02 transform against published reference points; basemap presets."""

from __future__ import annotations

import numpy as np
import pytest

from gridgeo.errors import InputError
from gridgeo.export.basemaps import PRESETS, resolve_basemap
from gridgeo.export.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

# (wgs lat, wgs lon, gcj lat, gcj lon): the public test vectors of the eviltransform project.
VECTORS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
    (39.915, 116.404, 39.91640428150164, 116.41024449916938),  # coordtransform's example
]


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), VECTORS)
def test_published_reference_points(wlat, wlon, glat, glon):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert abs(lon - glon) < 1e-9 and abs(lat - glat) < 1e-9
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert abs(back_lon - wlon) < 1e-8 and abs(back_lat - wlat) < 1e-8


def _metres(lon0, lat0, lon1, lat1):
    return np.hypot((lon1 - lon0) * 111_320 * np.cos(np.radians(lat0)), (lat1 - lat0) * 110_574)


def test_offset_in_qingdao_is_about_one_grid():
    lon = np.linspace(120.30, 120.50, 9)
    lat = np.linspace(36.04, 36.20, 9)
    glon, glat = wgs84_to_gcj02(lon, lat)
    d = _metres(lon, lat, glon, glat)
    assert (d > 420).all() and (d < 520).all()  # 437-463 m over the city
    assert (glon > lon).all()  # tiles sit east of the true position in Qingdao


def test_no_offset_outside_china():
    lon, lat = wgs84_to_gcj02([2.35, -74.0], [48.85, 40.7])
    assert np.allclose(lon, [2.35, -74.0]) and np.allclose(lat, [48.85, 40.7])


def test_presets_know_their_system():
    assert resolve_basemap("gaode").gcj02 and resolve_basemap("tencent").gcj02
    assert not resolve_basemap("osm").gcj02
    assert resolve_basemap("tianditu", tianditu_key="k").system == "cgcs2000"
    assert "tk=k" in resolve_basemap("tianditu", tianditu_key="k").url
    assert set(PRESETS) >= {"osm", "tianditu", "gaode", "tencent"}


def test_custom_urls_need_their_system_when_the_host_is_gcj02(monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    gaode = "https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}"
    with pytest.raises(InputError, match="500 m"):
        resolve_basemap(gaode)
    assert resolve_basemap("gcj02:" + gaode).gcj02
    assert resolve_basemap("https://tiles.example.org/{z}/{x}/{y}.png").system == "wgs84"
    for bad in ("nosuchpreset", "https://tiles.example.org/tile.png", "tianditu"):
        with pytest.raises(InputError):
            resolve_basemap(bad)
