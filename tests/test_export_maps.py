"""The interactive map: offline, complete, deterministic; drawn in headless Chromium when present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import geopandas as gpd
import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point

from gridgeo.coding import assign_codes
from gridgeo.errors import InputError
from gridgeo.export import render_map, write_map
from gridgeo.export._offline import external_references


@pytest.fixture(scope="module")
def grids(sample_result):
    return assign_codes(sample_result.grids)


@pytest.fixture(scope="module")
def findings(grids):
    return gpd.GeoDataFrame(
        {
            "rule": ["R5", "R1"],
            "severity": ["blocking", "warning"],
            "message": ["gap here", "below band"],
        },
        geometry=[Point(grids.geometry.iloc[0].centroid.coords[0]), grids.geometry.iloc[1]],
        crs=grids.crs,
    )


@pytest.fixture(scope="module")
def page(grids, sample_district, findings):
    return render_map(grids, district=sample_district, findings=findings)


def _grid_features(page: str) -> dict[str, dict]:
    """Grid code -> GeoJSON feature of every grid feature embedded in the page."""
    out = {}
    for m in re.finditer(r"^\s*geo_json_\w+_add\((\{.*\})\);\s*$", page, re.MULTILINE):
        for feat in json.loads(m.group(1))["features"]:
            code = feat["properties"].get("code")
            if code:
                out[code] = feat
    return out


def test_page_needs_no_network(page):
    scripts = re.findall(r"<script[^>]*>", page) + re.findall(r"<link[^>]*>", page)
    assert not [tag for tag in scripts if re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", tag)]
    assert external_references(page) == []
    assert "tile.openstreetmap" not in page and "L.tileLayer" not in page
    assert 'version="1.9.3"' in page  # Leaflet itself is inlined


def test_every_grid_is_in_the_page(page, grids):
    feats = _grid_features(page)
    assert set(feats) == set(grids["grid_code"])
    for row in grids.itertuples():
        props = feats[row.grid_code]["properties"]
        assert props["households"] == row.households and props["community"] == row.community_name
        assert feats[row.grid_code]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_layers_present(page):
    for name in ("网格 grids", "网格编码 codes", "建筑 buildings", "专属单位 dedicated units",
                 "纳入用地 absorbed land", "核查结果 findings"):  # fmt: skip
        assert json.dumps(name)[1:-1] in page  # folium writes names as JSON (\\u escapes)
    assert "gap here" in page


def test_same_input_same_bytes(grids, sample_district, findings, tmp_path):
    a = write_map(grids, tmp_path / "a.html", district=sample_district, findings=findings)
    b = write_map(grids, tmp_path / "b.html", district=sample_district, findings=findings)
    assert a == tmp_path / "a.html"
    assert a.read_bytes() == b.read_bytes()


def test_caller_frames_untouched(grids, findings):
    before, fbefore = grids.copy(), findings.copy()
    render_map(grids, findings=findings)
    assert_geodataframe_equal(grids, before)
    assert_geodataframe_equal(findings, fbefore)


def test_layer_without_crs_is_refused(grids):
    with pytest.raises(InputError, match="no CRS"):
        render_map(grids.set_crs(None, allow_override=True))


def _dom(path, tmp_path) -> str:
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900",
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri(),
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.skipif(
    _chromium() is None, reason="no chromium binary on this machine (apt-get install chromium)"
)
def test_chromium_draws_the_grids_offline(grids, tmp_path):
    path = write_map(grids, tmp_path / "map.html")
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Network off: every host resolves nowhere, every request goes to a dead proxy.
        "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout
    paths = re.findall(r"<path[^>]*class=\"leaflet-interactive\"", dom)
    assert len(paths) >= len(grids)
    labels = set(re.findall(r'class="gg-full">(\d{19})<', dom))
    assert labels == set(grids["grid_code"])


# -- hostile text (issue 17) -------------------------------------------------------------------

SCRIPT = '<img src=x onerror="alert(1)">'


def _tooltip_texts(fmap) -> list[str]:
    """Every text property of every GeoJSON layer of a folium map (what tooltips show)."""
    import folium

    out = []
    todo = [fmap]
    while todo:
        el = todo.pop()
        todo.extend(el._children.values())
        if isinstance(el, folium.GeoJson):
            for feat in el.data["features"]:
                out += [v for v in feat["properties"].values() if isinstance(v, str)]
    return out


def test_names_codes_notes_and_findings_are_escaped(grids, sample_district):
    import html

    import pandas as pd

    from gridgeo.export.maps import make_map

    g = grids.head(3).copy()
    g["community_name"] = SCRIPT
    g.loc[g.index[0], "grid_code"] = "</script><script>alert(2)</script>"
    district = sample_district
    landuse = district.landuse.copy()
    landuse["name"] = SCRIPT
    findings = gpd.GeoDataFrame({"rule": ["R5<b>"], "severity": ["blocking"], "message": [SCRIPT]},
                                geometry=[g.geometry.iloc[1]], crs=g.crs)  # fmt: skip
    staff = pd.DataFrame({"grid_code": [g["grid_code"].iloc[1]], "name": [SCRIPT], "role": ["full_time"]})
    from dataclasses import replace

    fmap = make_map(g, district=replace(district, landuse=landuse), findings=findings, staff=staff,
                    title=SCRIPT)  # fmt: skip
    texts = _tooltip_texts(fmap)
    assert any(html.unescape(t) == SCRIPT for t in texts)  # shown as written ...
    assert any("onerror" in t for t in texts)
    assert not [t for t in texts if "<" in t or ">" in t or '"' in t]  # ... never as markup
    page = render_map(g, findings=findings, staff=staff, title=SCRIPT)
    assert SCRIPT not in page and "<script>alert(2)" not in page
    assert "<title>&lt;img" in page


# -- streets, labels by zoom, popups, legend and scale (issue 18) -----------------------------


def _div_icons(page: str) -> list[str]:
    """The HTML of every DivIcon in the page (folium writes it as a JSON string)."""
    return [json.loads(m.group(1)) for m in re.finditer(r'"html":\s*("(?:[^"\\]|\\.)*")', page)]


def _street_names(district) -> set[str]:
    names = set()
    for layer in (district.roads, district.rivers):
        names |= {n for n in layer["name"].dropna().astype(str) if n.strip()}
    return names


def test_page_writes_the_street_and_community_names(page, sample_district):
    icons = " ".join(_div_icons(page))
    streets = _street_names(sample_district)
    assert "南北1路" in streets
    assert {n for n in streets if n in icons} == streets  # every named road and river is labelled
    communities = set(sample_district.communities["name"].astype(str))
    assert {n for n in communities if f">{n}<" in icons} == communities


def test_grid_label_holds_serial_and_code_and_page_switches_by_zoom(page, grids):
    icons = [h for h in _div_icons(page) if "gridgeo-label" in h]
    fulls = {m for h in icons for m in re.findall(r'class="gg-full">([^<]*)<', h)}
    serials = [m for h in icons for m in re.findall(r'class="gg-serial">([^<]*)<', h)]
    assert fulls == set(grids["grid_code"])
    assert len(serials) == len(grids) and all(len(s) < 19 for s in serials)
    assert ".gg-far .gridgeo-label .gg-full{display:none;}" in page
    assert ".gg-near .gridgeo-label .gg-serial{display:none;}" in page


def test_details_on_click_and_metric_scale_apart_from_legend(page):
    assert "bindPopup" in page  # a tap on a phone opens the grid's details
    assert "imperial: false" in page and '"imperial": true' not in page
    assert 'position: "bottomleft"' in page and 'position: "bottomright"' in page


@pytest.mark.skipif(
    _chromium() is None, reason="no chromium binary on this machine (apt-get install chromium)"
)
def test_chromium_shows_street_names_and_a_metric_scale(grids, sample_district, tmp_path):
    path = write_map(grids, tmp_path / "map.html", district=sample_district)
    dom = _dom(path, tmp_path)
    shown = set(re.findall(r'class="gridgeo-street road"><span[^>]*>([^<]+)<', dom))
    assert "南北1路" in shown and shown <= _street_names(sample_district)
    assert set(re.findall(r'class="gridgeo-community">([^<]+)<', dom)) == set(
        sample_district.communities["name"].astype(str)
    )
    scale = re.findall(r'leaflet-control-scale-line"[^>]*>([^<]*)<', dom)
    assert len(scale) == 1 and re.fullmatch(r"\d+ k?m", scale[0])  # metric only: no miles
    # Legend and scale bar live in different corners, so neither covers the other.
    left = dom.split('leaflet-bottom leaflet-left">', 1)[1].split("leaflet-bottom leaflet-right", 1)[0]
    right = dom.split('leaflet-bottom leaflet-right">', 1)[1]
    assert "leaflet-control-scale" in left and "gridgeo-legend" not in left
    assert "gridgeo-legend" in right
    # Zoomed out: the page shows serials, not the 19-digit codes.
    assert re.search(r'class="[^"]*leaflet-container[^"]*gg-far', dom)


def test_gcj02_tiles_shift_every_overlay_by_the_qingdao_offset(grids, sample_district):
    from gridgeo.export.gcj02 import wgs84_to_gcj02

    plain = _grid_features(render_map(grids, district=sample_district))
    shifted = _grid_features(render_map(grids, district=sample_district, basemap="gaode"))
    code = sorted(plain)[0]
    (x0, y0), (x1, y1) = (plain[code]["geometry"]["coordinates"][0][0],
                          shifted[code]["geometry"]["coordinates"][0][0])  # fmt: skip
    ex, ey = wgs84_to_gcj02(x0, y0)
    assert abs(x1 - ex) < 2e-6 and abs(y1 - ey) < 2e-6
    metres = ((x1 - x0) * 111_320 * np.cos(np.radians(y0))) ** 2 + ((y1 - y0) * 110_574) ** 2
    assert 440 < metres**0.5 < 520


def test_raw_gaode_url_without_its_system_is_refused(grids):
    url = "https://webrd01.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}"
    with pytest.raises(InputError, match="gcj02"):
        render_map(grids, basemap=url)
    page = render_map(grids, basemap="gcj02:" + url)
    assert "autonavi" in page


def test_street_and_community_names_are_escaped(grids, sample_district):
    import html
    from dataclasses import replace

    roads = sample_district.roads.assign(name=SCRIPT)
    communities = sample_district.communities.assign(name="</div><script>alert(3)</script>")
    page = render_map(grids.head(3), district=replace(sample_district, roads=roads, communities=communities))
    assert SCRIPT not in page and "<script>alert(3)" not in page
    icons = _div_icons(page)
    assert any(html.escape(SCRIPT) in h for h in icons)  # shown as written
