"""The interactive map of a district's grids: one HTML page that opens with no network.

The page is drawn with folium (Leaflet), with the Leaflet files inlined (see
:mod:`gridgeo.export._offline`) and no tile layer unless a basemap is asked for. Layers: the
grids coloured by class and labelled by code, the grid codes, buildings, dedicated units,
absorbed land and, when given, the coverage findings. A grid's popup (on click or tap) names its community,
households, residents and its workers; no resident-level record reaches the page (buildings are
drawn as shapes only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import Template

from gridgeo.export._common import (
    check_grids,
    html_text,
    short_code,
    to_lonlat,
    worker_names,
)
from gridgeo.export._offline import external_references, render_offline
from gridgeo.export._streets import label_points, layer_of, named_lines
from gridgeo.export.basemaps import Basemap, resolve_basemap
from gridgeo.export.gcj02 import to_gcj02
from gridgeo.io import write_text

#: Fill colours of the grid classes.
CLASS_COLOURS: dict[str, str] = {"community": "#3b78c3", "dedicated": "#e0821e"}
#: Outline colours of findings by severity.
SEVERITY_COLOURS: dict[str, str] = {"blocking": "#d62728", "warning": "#ff9f1c"}
#: Decimal places kept of lon/lat in the page (1e-6 degree is about 0.1 m).
PRECISION = 6

#: Zoom level from which a grid's label shows its full 19-digit code (its serial below it).
FULL_CODE_ZOOM = 16
#: Zoom level from which road and river names are written.
STREET_NAME_ZOOM = 13

_LABEL_CSS = """
<style>
.gridgeo-label{font:11px/1.2 sans-serif;color:#1d2b3a;white-space:nowrap;text-align:center;
  text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;pointer-events:none;transform:translate(-50%,-50%);}
.gridgeo-label .gg-serial{font-weight:bold;font-size:12px;}
.gg-far .gridgeo-label .gg-full{display:none;}
.gg-near .gridgeo-label .gg-serial{display:none;}
.gridgeo-street{font:12px/1 sans-serif;color:#5a4a2f;white-space:nowrap;pointer-events:none;
  text-shadow:0 0 2px #fff,0 0 3px #fff,0 0 4px #fff;}
.gridgeo-street span{display:inline-block;transform:translate(-50%,-50%) rotate(var(--a));}
.gridgeo-street.river{color:#2f6ea8;font-style:italic;}
.gg-small .gridgeo-street{display:none;}
.gridgeo-community{font:bold 13px/1 sans-serif;color:#6b3fa0;white-space:nowrap;pointer-events:none;
  transform:translate(-50%,-50%);text-shadow:0 0 2px #fff,0 0 3px #fff;opacity:.85;}
.gridgeo-legend{background:#fff;padding:6px 9px;font:12px/1.5 sans-serif;border-radius:4px;
  box-shadow:0 1px 4px rgba(0,0,0,.3);}
.gridgeo-legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle;}
.leaflet-popup-content table td{padding:1px 4px;font-size:13px;}
</style>
"""


class _Controls(folium.MacroElement):
    """The metric scale bar (bottom left), the legend (bottom right) and the zoom classes.

    Leaflet stacks controls of one corner, so legend and scale bar never cover each other;
    the map container carries ``gg-far``/``gg-near`` (grid labels: serial or full code) and
    ``gg-small`` (street names hidden) by zoom.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, position: "bottomleft"}).addTo({{ this._parent.get_name() }});
        (function(map) {
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function() {
                var div = L.DomUtil.create("div", "gridgeo-legend");
                div.innerHTML = {{ this.legend }};
                return div;
            };
            legend.addTo(map);
            function zoomClasses() {
                var z = map.getZoom(), box = map.getContainer();
                L.DomUtil[z >= {{ this.full }} ? "addClass" : "removeClass"](box, "gg-near");
                L.DomUtil[z >= {{ this.full }} ? "removeClass" : "addClass"](box, "gg-far");
                L.DomUtil[z >= {{ this.street }} ? "removeClass" : "addClass"](box, "gg-small");
            }
            map.on("zoomend", zoomClasses);
            map.whenReady(zoomClasses);
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, legend_html: str):
        super().__init__()
        self._name = "GridgeoControls"
        self.legend = json.dumps(legend_html)
        self.full = FULL_CODE_ZOOM
        self.street = STREET_NAME_ZOOM


_FIELDS = ["code", "community", "households", "residents", "workers"]
_ALIASES = ["网格编码 code", "社区 community", "户数 households", "人口 residents", "网格员 workers"]


def make_map(
    grids: gpd.GeoDataFrame,
    *,
    district: Any = None,
    findings: gpd.GeoDataFrame | None = None,
    staff: pd.DataFrame | Any = None,
    basemap: str | Basemap | None = None,
    title: str | None = None,
) -> folium.Map:
    """Build the folium map of a grid layer (not yet made offline; see :func:`render_map`).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer, in any CRS: ``grid_code`` (or ``grid_id``), geometry and, when present,
        ``grid_class``, ``community_name``, ``community_code``, ``households``, ``residents``.
    district : gridgeo.district.District, optional
        Supplies the streets (roads and rivers with their names), the community names and
        boundaries, buildings, dedicated units and absorbed land.
    findings : geopandas.GeoDataFrame, optional
        Coverage findings with ``rule``, ``severity``, ``message`` and geometry.
    staff : StaffPlan or pandas.DataFrame, optional
        A staff plan (:func:`gridgeo.export.assign_staff`) or its ``assignments`` table
        (``grid_code``, ``name``, ``role``): the popup then names each grid's workers.
    basemap : str or Basemap, optional
        A preset (``"osm"``, ``"tianditu"``, ``"gaode"``, ``"tencent"``) or ``SYSTEM:URL``
        (see :func:`gridgeo.export.basemaps.resolve_basemap`). On GCJ-02 tiles (高德, 腾讯)
        every overlay is shifted to GCJ-02. Default none: the page then needs no network.
    title : str, optional
        The page title.

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        When the grid layer has no CRS, no key column, or duplicate keys; on a basemap that
        :func:`~gridgeo.export.basemaps.resolve_basemap` refuses.
    """
    key = check_grids(grids)
    tiles = resolve_basemap(basemap) if isinstance(basemap, str) else basemap
    draw = to_gcj02 if tiles is not None and tiles.gcj02 else to_lonlat
    g = draw(grids.copy())
    minx, miny, maxx, maxy = (float(v) for v in g.total_bounds)
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14, tiles=None,
                      control_scale=False)  # fmt: skip
    fmap.get_root().header.add_child(folium.Element(_LABEL_CSS), name="gridgeo_css")
    if title:
        fmap.get_root().title = html_text(title)
    if tiles is not None:
        folium.TileLayer(tiles.url, name=html_text(tiles.name), attr=html_text(tiles.attribution),
                         subdomains=tiles.subdomains or "abc", max_zoom=19).add_to(fmap)  # fmt: skip
    if district is not None:
        _street_layers(fmap, district, draw)
        _district_layers(fmap, district, draw)
    table = _grid_table(g, key, worker_names(staff, key))
    _grid_layers(fmap, g, table)
    if findings is not None and len(findings):
        _findings_layer(fmap, findings, draw)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _Controls(_legend(findings is not None and len(findings) > 0, district is not None)).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def _grid_table(g: gpd.GeoDataFrame, key: str, names: dict[str, str]) -> pd.DataFrame:
    table = pd.DataFrame({"code": g[key].astype(str)})
    table["class"] = g["grid_class"].astype(str) if "grid_class" in g else "community"
    table["community"] = g["community_name"].astype(str) if "community_name" in g else ""
    for col in ("households", "residents"):
        table[col] = g[col].fillna(0).astype(int) if col in g else 0
    table["workers"] = [names.get(c, "") for c in table["code"]]
    return table


def _grid_layers(fmap: folium.Map, g: gpd.GeoDataFrame, table: pd.DataFrame) -> None:
    """The grids (hover: code; click: every detail, as a phone needs) and their labels."""
    grid_layer = folium.FeatureGroup(name="网格 grids", show=True)
    folium.GeoJson(
        _geojson(g.geometry, table),
        name="grids",
        style_function=_grid_style,
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(fields=["code", "community"], aliases=_ALIASES[:2], sticky=True),
        popup=folium.GeoJsonPopup(fields=_FIELDS, aliases=_ALIASES, max_width=320),
    ).add_to(grid_layer)
    grid_layer.add_to(fmap)

    labels = folium.FeatureGroup(name="网格编码 codes", show=True)
    points = shapely.point_on_surface(g.geometry.values)
    # Both texts are in the page; the zoom class of the map shows one (see _Controls).
    html = [f'<div class="gridgeo-label"><span class="gg-serial">{html_text(short_code(code))}'
            f'</span><span class="gg-full">{html_text(code)}</span></div>' for code in table["code"]]  # fmt: skip
    _Labels(points, html).add_to(labels)
    labels.add_to(fmap)


class _Labels(folium.MacroElement):
    """Text labels at points, all of a layer in one script.

    A folium Marker per label compiled a jinja template each: 60 % of writing a city's map.
    Each label is a Leaflet ``divIcon`` marker added to the parent layer; labels take no pointer
    events, so a tap on a label reaches the grid beneath it.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(layer) {
            var rows = {{ this.rows }};
            for (var i = 0; i < rows.length; i++) {
                L.marker([rows[i].lat, rows[i].lng], {interactive: false, keyboard: false,
                    icon: L.divIcon({html: rows[i].html, iconSize: [0, 0], className: "gridgeo-label-icon"})
                }).addTo(layer);
            }
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, points, html: list[str]) -> None:
        super().__init__()
        self._name = "GridgeoLabels"
        rows = [{"lat": round(float(shapely.get_y(p)), PRECISION), "lng": round(float(shapely.get_x(p)), PRECISION),
                 "html": h} for p, h in zip(points, html, strict=True)]  # fmt: skip
        # "</" would end the page's <script> inside a string: written as "<\/" (the same in JSON).
        self.rows = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _street_layers(fmap: folium.Map, district: Any, draw) -> None:
    """Roads and rivers with their names, community boundaries with theirs (the offline basemap)."""
    crs = _metric(district)
    specs = (("rivers", "河流 rivers", "#7fb3e0", 5, "river"), ("roads", "道路 streets", "#c9b78f", 4, "road"))
    for attr, name, colour, weight, kind in specs:
        layer = layer_of(district, attr)
        if layer is None:
            continue
        group = folium.FeatureGroup(name=name, show=True)
        shapes = draw(layer)
        names = shapes["name"].fillna("").astype(str) if "name" in shapes else pd.Series("", index=shapes.index)
        props = pd.DataFrame({"name": names})
        folium.GeoJson(
            _geojson(shapes.geometry, props),
            style_function=lambda f, c=colour, w=weight: {"color": c, "weight": w, "opacity": 0.9,
                                                          "fillColor": c, "fillOpacity": 0.4},
            tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=["名称 name"]),
        ).add_to(group)  # fmt: skip
        points = label_points(named_lines(layer, crs))
        if len(points):
            at = draw(points)
            html = [f'<div class="gridgeo-street {kind}"><span style="--a:{-angle:g}deg">{html_text(text)}</span></div>'
                    for text, angle in zip(at["name"], points["angle"], strict=True)]  # fmt: skip
            _Labels(at.geometry.values, html).add_to(group)
        group.add_to(fmap)
    communities = layer_of(district, "communities")
    if communities is None:
        return
    group = folium.FeatureGroup(name="社区 communities", show=True)
    shapes = draw(communities)
    folium.GeoJson(
        _geojson(shapes.geometry),
        style_function=lambda f: {"color": "#6b3fa0", "weight": 1.5, "dashArray": "6 4", "fill": False},
        interactive=False,
    ).add_to(group)
    names = communities["name"].fillna("").astype(str) if "name" in communities else None
    if names is not None:
        inside = draw(gpd.GeoDataFrame(geometry=shapely.point_on_surface(communities.to_crs(crs).geometry.values),
                                       crs=crs))  # fmt: skip
        named = [(pt, f'<div class="gridgeo-community">{html_text(text)}</div>')
                 for text, pt in zip(names, inside.geometry, strict=True) if text.strip()]  # fmt: skip
        if named:
            _Labels([p for p, _ in named], [h for _, h in named]).add_to(group)
    group.add_to(fmap)


def _metric(district: Any):
    from gridgeo.district import metric_crs

    for name in ("communities", "roads", "buildings"):
        layer = layer_of(district, name)
        if layer is not None:
            return metric_crs(layer)
    return None


def render_map(grids: gpd.GeoDataFrame, **kwargs: Any) -> str:
    """The map of :func:`make_map` as one self-contained, byte-stable HTML page.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        As for :func:`make_map`.
    **kwargs
        The keyword options of :func:`make_map`.

    Returns
    -------
    str
        The page. Without ``basemap`` it references no http(s) resource.
    """
    page = render_offline(make_map(grids, **kwargs))
    if not kwargs.get("basemap"):
        leaks = external_references(page)
        if leaks:  # pragma: no cover - a folium upgrade that adds resources would land here
            raise RuntimeError(f"the map page still links external resources: {leaks[:3]}")
    return page


def write_map(
    grids: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    district: Any = None,
    findings: gpd.GeoDataFrame | None = None,
    staff: pd.DataFrame | Any = None,
    basemap: str | Basemap | None = None,
    title: str | None = None,
) -> Path:
    """Write the interactive map of a grid layer to an HTML file, atomically.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer (see :func:`make_map`); it is not modified.
    path : path-like
        The ``.html`` file to write.
    district, findings, staff, basemap, title
        See :func:`make_map`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    page = render_map(
        grids, district=district, findings=findings, staff=staff, basemap=basemap,
        title=title or "网格分布图 service grids",
    )  # fmt: skip
    return write_text(page, path)


def _grid_style(feature: dict) -> dict:
    cls = feature["properties"].get("class", "community")
    colour = CLASS_COLOURS.get(cls, "#7f7f7f")
    return {"color": "#1d2b3a", "weight": 1.2, "fillColor": colour, "fillOpacity": 0.35}


def _geojson(geometry: gpd.GeoSeries, props: pd.DataFrame | None = None) -> dict:
    """A GeoJSON FeatureCollection with rounded coordinates and plain-Python properties."""
    geoms = shapely.set_precision(geometry.values, 10.0**-PRECISION, mode="pointwise")
    features = []
    records = props.to_dict("records") if props is not None else [{}] * len(geoms)
    for geom, rec in zip(geoms, records, strict=True):
        if geom is None or geom.is_empty:
            continue
        # Leaflet puts tooltip values into innerHTML: every text is escaped, shown as written.
        clean = {k: _safe_value(v) for k, v in rec.items()}
        features.append(
            {
                "type": "Feature",
                "properties": clean,
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _safe_value(value: Any) -> Any:
    """A plain-Python property value; text HTML-escaped (see :func:`html_text`)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str):
        return html_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return html_text(value)


def _district_layers(fmap: folium.Map, district: Any, draw=to_lonlat) -> None:
    buildings = getattr(district, "buildings", None)
    if buildings is not None and len(buildings):
        layer = folium.FeatureGroup(name="建筑 buildings", show=True)
        # Shapes only: a building's household count is a resident-level figure for small blocks.
        folium.GeoJson(
            _geojson(draw(buildings).geometry),
            style_function=lambda f: {
                "color": "#555",
                "weight": 0.5,
                "fillColor": "#9a9a9a",
                "fillOpacity": 0.6,
            },
        ).add_to(layer)
        layer.add_to(fmap)
    landuse = getattr(district, "landuse", None)
    if landuse is None or not len(landuse) or "category" not in landuse:
        return
    specs = (
        ("dedicated", "专属单位 dedicated units", "#e0821e", "单位 unit"),
        ("absorbable", "纳入用地 absorbed land", "#4c9a2a", "用地 land"),
    )
    for category, name, colour, alias in specs:
        part = landuse[landuse["category"] == category]
        if not len(part):
            continue
        part = draw(part)
        props = pd.DataFrame(
            {
                "name": part["name"].fillna("").astype(str) if "name" in part else "",
                "class": part["landuse_class"].fillna("").astype(str)
                if "landuse_class" in part
                else "",
            }
        )
        layer = folium.FeatureGroup(name=name, show=category == "dedicated")
        folium.GeoJson(
            _geojson(part.geometry, props),
            style_function=lambda f, c=colour: {
                "color": c,
                "weight": 1.5,
                "dashArray": "4 3",
                "fillColor": c,
                "fillOpacity": 0.15,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name", "class"], aliases=[alias, "类别 class"]),
        ).add_to(layer)
        layer.add_to(fmap)


def _findings_layer(fmap: folium.Map, findings: gpd.GeoDataFrame, draw=to_lonlat) -> None:
    f = findings[findings.geometry.notna() & ~findings.geometry.is_empty]
    if f.crs is None or not len(f):
        return
    f = draw(f)
    props = pd.DataFrame(
        {
            col: f[col].fillna("").astype(str) if col in f else ""
            for col in ("rule", "severity", "message")
        }
    )
    layer = folium.FeatureGroup(name="核查结果 findings", show=True)
    folium.GeoJson(
        _geojson(f.geometry, props),
        style_function=lambda feat: {
            "color": SEVERITY_COLOURS.get(feat["properties"]["severity"], "#9467bd"),
            "weight": 3, "fillOpacity": 0.2, "radius": 7,
        },
        marker=folium.CircleMarker(radius=7, fill=True),
        tooltip=folium.GeoJsonTooltip(fields=["rule", "severity", "message"], aliases=["规则 rule", "级别 severity", "说明 message"]),
    ).add_to(layer)  # fmt: skip
    layer.add_to(fmap)


def _legend(with_findings: bool, with_streets: bool = False) -> str:
    rows = [
        f'<div><i style="background:{CLASS_COLOURS["community"]};opacity:.6"></i>社区网格 community grid</div>',
        f'<div><i style="background:{CLASS_COLOURS["dedicated"]};opacity:.6"></i>专属网格 dedicated grid</div>',
    ]
    if with_findings:
        rows.append(
            f'<div><i style="border:2px solid {SEVERITY_COLOURS["blocking"]}"></i>核查问题 finding</div>'
        )
    if with_streets:
        rows.append('<div><i style="background:#c9b78f;height:4px"></i>道路 street</div>')
        rows.append('<div><i style="border-top:2px dashed #6b3fa0;height:0"></i>社区界 community</div>')
    return "".join(rows)
