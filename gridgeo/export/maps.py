"""The interactive map of a district's grids: one HTML page that opens with no network.

The page is drawn with folium (Leaflet), with the Leaflet files inlined (see
:mod:`gridgeo.export._offline`) and no tile layer unless a basemap is asked for. Layers: the
grids coloured by class and labelled by code, the grid codes, buildings, dedicated units,
absorbed land and, when given, the coverage findings. A grid's tooltip names its community,
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

from gridgeo.export._common import ROLE_LABELS, ROLE_ORDER, check_grids, html_text, to_lonlat
from gridgeo.export._offline import external_references, render_offline
from gridgeo.io import write_text

#: Fill colours of the grid classes.
CLASS_COLOURS: dict[str, str] = {"community": "#3b78c3", "dedicated": "#e0821e"}
#: Outline colours of findings by severity.
SEVERITY_COLOURS: dict[str, str] = {"blocking": "#d62728", "warning": "#ff9f1c"}
#: Decimal places kept of lon/lat in the page (1e-6 degree is about 0.1 m).
PRECISION = 6

_LABEL_CSS = """
<style>
.gridgeo-label{font:11px/1.2 sans-serif;color:#1d2b3a;white-space:nowrap;text-align:center;
  text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff;pointer-events:none;transform:translate(-50%,-50%);}
.gridgeo-legend{position:absolute;bottom:18px;left:10px;z-index:1000;background:#fff;padding:6px 9px;
  font:12px/1.5 sans-serif;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);}
.gridgeo-legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle;}
</style>
"""


def make_map(
    grids: gpd.GeoDataFrame,
    *,
    district: Any = None,
    findings: gpd.GeoDataFrame | None = None,
    staff: pd.DataFrame | Any = None,
    basemap: str | None = None,
    title: str | None = None,
) -> folium.Map:
    """Build the folium map of a grid layer (not yet made offline; see :func:`render_map`).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer, in any CRS: ``grid_code`` (or ``grid_id``), geometry and, when present,
        ``grid_class``, ``community_name``, ``community_code``, ``households``, ``residents``.
    district : gridgeo.district.District, optional
        Supplies the buildings, dedicated units and absorbed land layers.
    findings : geopandas.GeoDataFrame, optional
        Coverage findings with ``rule``, ``severity``, ``message`` and geometry.
    staff : StaffPlan or pandas.DataFrame, optional
        A staff plan (:func:`gridgeo.export.assign_staff`) or its ``assignments`` table
        (``grid_code``, ``name``, ``role``): the tooltip then names each grid's workers.
    basemap : str, optional
        A tile URL template or a folium tile name (e.g. ``"OpenStreetMap"``). Default none: the
        page then needs no network at all.
    title : str, optional
        The page title.

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        When the grid layer has no CRS, no key column, or duplicate keys.
    """
    key = check_grids(grids)
    g = to_lonlat(grids[[c for c in grids.columns]].copy())
    names = _worker_names(staff, key)
    minx, miny, maxx, maxy = (float(v) for v in g.total_bounds)
    fmap = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        zoom_start=14,
        tiles=None,
        control_scale=True,
    )
    fmap.get_root().header.add_child(folium.Element(_LABEL_CSS), name="gridgeo_css")
    if title:
        fmap.get_root().title = html_text(title)
    if basemap:
        folium.TileLayer(
            basemap, name="basemap", attr="basemap" if "{" in basemap else None
        ).add_to(fmap)

    if district is not None:
        _district_layers(fmap, district)

    table = pd.DataFrame({"code": g[key].astype(str)})
    table["class"] = g["grid_class"].astype(str) if "grid_class" in g else "community"
    table["community"] = g["community_name"].astype(str) if "community_name" in g else ""
    for col in ("households", "residents"):
        table[col] = g[col].fillna(0).astype(int) if col in g else 0
    table["workers"] = [names.get(c, "") for c in table["code"]]
    grid_layer = folium.FeatureGroup(name="网格 grids", show=True)
    folium.GeoJson(
        _geojson(g.geometry, table),
        name="grids",
        style_function=_grid_style,
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(
            fields=["code", "community", "households", "residents", "workers"],
            aliases=[
                "网格编码 code",
                "社区 community",
                "户数 households",
                "人口 residents",
                "网格员 workers",
            ],
            sticky=True,
        ),
    ).add_to(grid_layer)
    grid_layer.add_to(fmap)

    labels = folium.FeatureGroup(name="网格编码 codes", show=True)
    points = shapely.point_on_surface(g.geometry.values)
    for code, pt in zip(table["code"], points, strict=True):
        folium.Marker(
            [round(pt.y, PRECISION), round(pt.x, PRECISION)],
            icon=folium.DivIcon(
                html=f'<div class="gridgeo-label">{html_text(code)}</div>',
                icon_size=(0, 0),
                class_name="gridgeo-label-icon",
            ),
        ).add_to(labels)
    labels.add_to(fmap)

    if findings is not None and len(findings):
        _findings_layer(fmap, findings)

    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(
        folium.Element(_legend(findings is not None and len(findings) > 0))
    )
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


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
    basemap: str | None = None,
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


def _district_layers(fmap: folium.Map, district: Any) -> None:
    buildings = getattr(district, "buildings", None)
    if buildings is not None and len(buildings):
        layer = folium.FeatureGroup(name="建筑 buildings", show=True)
        # Shapes only: a building's household count is a resident-level figure for small blocks.
        folium.GeoJson(
            _geojson(to_lonlat(buildings).geometry),
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
        part = to_lonlat(part)
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


def _findings_layer(fmap: folium.Map, findings: gpd.GeoDataFrame) -> None:
    f = findings[findings.geometry.notna() & ~findings.geometry.is_empty]
    if f.crs is None or not len(f):
        return
    f = to_lonlat(f)
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


def _legend(with_findings: bool) -> str:
    rows = [
        f'<div><i style="background:{CLASS_COLOURS["community"]};opacity:.6"></i>社区网格 community grid</div>',
        f'<div><i style="background:{CLASS_COLOURS["dedicated"]};opacity:.6"></i>专属网格 dedicated grid</div>',
    ]
    if with_findings:
        rows.append(
            f'<div><i style="border:2px solid {SEVERITY_COLOURS["blocking"]}"></i>核查问题 finding</div>'
        )
    return '<div class="gridgeo-legend">' + "".join(rows) + "</div>"


def _worker_names(staff: Any, key: str) -> dict[str, str]:
    """Grid key -> "name (role), ..." from a staff plan or its assignments table."""
    if staff is None:
        return {}
    table = getattr(staff, "assignments", staff)
    if not isinstance(table, pd.DataFrame) or not len(table):
        return {}
    col = key if key in table.columns else "grid_code"
    order = {r: i for i, r in enumerate(ROLE_ORDER)}
    t = table.assign(_o=table["role"].map(order).fillna(len(order))).sort_values(
        [col, "_o", "name"], kind="stable"
    )
    out: dict[str, str] = {}
    for code, rows in t.groupby(col, sort=True):
        out[str(code)] = "，".join(
            f"{r.name}（{ROLE_LABELS.get(r.role, r.role)}）" for r in rows.itertuples()
        )
    return out
