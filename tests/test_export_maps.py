"""The interactive map: offline, complete, deterministic; drawn in headless Chromium when present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import geopandas as gpd
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
    labels = set(re.findall(r'class="gridgeo-label">(\d{19})<', dom))
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
