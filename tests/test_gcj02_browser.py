"""Where a real browser draws the grids on GCJ-02 tiles (高德) and on CGCS2000 tiles (天地图), offline (issue 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from gridgeo.coding import assign_codes
from gridgeo.export import write_map
from gridgeo.export.basemaps import resolve_basemap
from gridgeo.export.gcj02 import wgs84_to_gcj02
from gridgeo.export.maps import PRECISION

# Every grid's first drawn vertex, read from the Leaflet layers of the page's map.
_READ_VERTICES = """() => {
  const maps = Object.values(window).filter(v => v instanceof L.Map);
  const out = {};
  const first = ll => Array.isArray(ll) ? first(ll[0]) : ll;
  maps.forEach(m => m.eachLayer(layer => {
    const code = layer.feature && layer.feature.properties && layer.feature.properties.code;
    if (code && layer.getLatLngs) { const p = first(layer.getLatLngs()); out[code] = [p.lng, p.lat]; }
  }));
  return out;
}"""


@pytest.fixture(scope="module")
def grids(sample_result):
    return assign_codes(sample_result.grids)


@pytest.fixture(scope="module")
def browser(chromium_browser):
    return chromium_browser


def _drawn(browser, path: Path) -> dict[str, tuple[float, float]]:
    """Grid code -> (lon, lat) of its first vertex as Leaflet holds it, the page opened with no network."""
    ctx = browser.new_context(offline=True, bypass_csp=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_function("() => typeof L !== 'undefined'")
        return {k: tuple(v) for k, v in page.evaluate(_READ_VERTICES).items()}
    finally:
        ctx.close()


def _first_vertices(grids, *, gcj02: bool) -> dict[str, tuple[float, float]]:
    """Grid code -> first exterior vertex of the input grid in WGS 84, GCJ-02-shifted if asked,
    then rounded as the page rounds (``maps.PRECISION`` decimals, after the shift)."""
    wgs = grids.to_crs(4326)
    out = {}
    for code, geom in zip(wgs["grid_code"], wgs.geometry, strict=True):
        poly = getattr(geom, "geoms", [geom])[0]  # Leaflet starts where the GeoJSON does
        x, y = poly.exterior.coords[0]
        if gcj02:
            x, y = (float(v) for v in wgs84_to_gcj02(x, y))
        pt = shapely.set_precision(shapely.Point(x, y), 10.0**-PRECISION, mode="pointwise")
        out[code] = (pt.x, pt.y)
    return out


def _near(drawn: dict, expected: dict, code: str) -> bool:
    return bool(np.allclose(drawn[code], expected[code], rtol=0, atol=1e-7))


def test_gaode_overlay_is_the_gcj02_shift_of_the_input(browser, grids, tmp_path):
    drawn = _drawn(browser, write_map(grids, tmp_path / "map.html", basemap="gaode"))
    assert set(drawn) == set(grids["grid_code"])
    expected = _first_vertices(grids, gcj02=True)
    plain = _first_vertices(grids, gcj02=False)
    matched = [c for c in drawn if _near(drawn, expected, c)]
    assert matched == list(drawn)
    assert not any(_near(drawn, plain, c) for c in drawn)
    # The known magnitude of the offset in Qingdao: about 460-560 m.
    for code in matched:
        (x0, y0), (x1, y1) = plain[code], drawn[code]
        metres = np.hypot((x1 - x0) * 111_320 * np.cos(np.radians(y0)), (y1 - y0) * 110_574)
        assert 450 < metres < 560, (code, metres)  # the sample's grids sit just under 460 m


def test_tianditu_overlay_is_the_input_unshifted(browser, grids, tmp_path):
    drawn = _drawn(
        browser,
        write_map(
            grids,
            tmp_path / "map.html",
            basemap=resolve_basemap("tianditu", tianditu_key="offline-test"),
        ),
    )
    expected = _first_vertices(grids, gcj02=False)
    assert set(drawn) == set(grids["grid_code"])
    assert all(_near(drawn, expected, c) for c in drawn)
