"""QGIS extras of a GeoPackage: Chinese field aliases and a default style per layer.

A planner opens ``grids.gpkg`` in QGIS (or a desktop GIS that reads GeoPackage schemas): the
columns should read 网格编码, 户数, ... and the grids should come up drawn and labelled. Both
are plain tables of the GeoPackage: ``gpkg_data_columns`` (the schema extension; GDAL reads its
``name``/``title`` as a field's alternative name) and QGIS's ``layer_styles`` (a QML document
per layer, used as its default). Both are written with fixed contents and a fixed timestamp,
so the same layers give the same bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd

#: Chinese alias of each known column (the planner's words).
FIELD_ALIASES: dict[str, str] = {
    "grid_code": "网格编码", "grid_id": "网格序号", "community_code": "社区代码",
    "community_name": "社区名称", "grid_class": "网格类别", "dedicated_class": "专属单位类别",
    "landuse_id": "用地编号", "households": "户数", "residents": "人口", "n_units": "单元数",
    "n_buildings": "楼栋数", "area_m2": "面积（平方米）", "flag": "标记", "solver_status": "求解状态",
    "unit_id": "单元编号", "name": "名称", "rule": "规则", "severity": "级别", "message": "说明",
    "source": "来源", "feature_id": "要素编号", "street_code": "街道代码", "street_name": "街道名称",
}  # fmt: skip
_FIXED_TIME = "2000-01-01T00:00:00.000Z"

_DATA_COLUMNS = """CREATE TABLE IF NOT EXISTS gpkg_data_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
  mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
  CONSTRAINT gdc_tn UNIQUE (table_name, name))"""
_LAYER_STYLES = """CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
  f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
  styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"""


def add_styles(path: str | Path, layers: Mapping[str, gpd.GeoDataFrame], *, style: bool = True) -> None:
    """Add field aliases and a default QGIS style for each layer of a GeoPackage being written.

    Parameters
    ----------
    path : path-like
        The GeoPackage (written by pyogrio; still the temporary file of an atomic write).
    layers : mapping
        Layer name -> the frame written under that name.
    style : bool
        Also write ``layer_styles`` (else only the aliases).
    """
    con = sqlite3.connect(str(path))
    try:
        con.execute(_DATA_COLUMNS)
        if style:
            con.execute(_LAYER_STYLES)
        con.execute("INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, "
                    "definition, scope) VALUES ('gpkg_data_columns', NULL, 'gpkg_schema', "
                    "'http://www.geopackage.org/spec/#extension_schema', 'read-write')")  # fmt: skip
        for name, gdf in layers.items():
            columns = [c for c in gdf.columns if c != gdf.geometry.name]
            for col in columns:
                alias = FIELD_ALIASES.get(col)
                if alias:
                    con.execute("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, "
                                "name, title, description) VALUES (?, ?, ?, ?, ?)",
                                (name, col, alias, alias, col))  # fmt: skip
            if not style:
                continue
            geom_col = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                                   (name,)).fetchone()  # fmt: skip
            kind = _kind(gdf)
            con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                        "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
                        (name, geom_col[0] if geom_col else "geom", name, qml(columns, kind, name),
                         "gridgeo", _FIXED_TIME))  # fmt: skip
        con.commit()
    finally:
        con.close()


def _kind(gdf: gpd.GeoDataFrame) -> str:
    types = set(gdf.geom_type.dropna().str.replace("Multi", "", regex=False))
    if types == {"Point"}:
        return "marker"
    if types == {"LineString"}:
        return "line"
    return "fill"


_SYMBOLS = {
    "fill": ('<layer class="SimpleFill"><Option type="Map">'
             '<Option name="color" value="59,120,195,90" type="QString"/>'
             '<Option name="outline_color" value="29,43,58,255" type="QString"/>'
             '<Option name="outline_width" value="0.4" type="QString"/></Option></layer>'),
    "line": ('<layer class="SimpleLine"><Option type="Map">'
             '<Option name="line_color" value="214,39,40,255" type="QString"/>'
             '<Option name="line_width" value="0.6" type="QString"/></Option></layer>'),
    "marker": ('<layer class="SimpleMarker"><Option type="Map">'
               '<Option name="color" value="214,39,40,255" type="QString"/>'
               '<Option name="size" value="3" type="QString"/></Option></layer>'),
}  # fmt: skip


def qml(columns: list[str], kind: str, name: str) -> str:
    """A QGIS style (QML) of one layer: its aliases, one symbol and the grid code as label."""
    aliases = "".join(
        f"<alias field={quoteattr(c)} index=\"{i}\" name={quoteattr(FIELD_ALIASES.get(c, ''))}/>"
        for i, c in enumerate(columns)
    )
    label_field = next((c for c in ("grid_code", "grid_id", "name", "rule") if c in columns), None)
    labels = ""
    if label_field is not None:
        labels = (f'<labeling type="simple"><settings><text-style fieldName={quoteattr(label_field)} '
                  'fontSize="8" textColor="29,43,58,255"/><placement placement="1"/></settings></labeling>')  # fmt: skip
    return ('<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>\n'
            f'<qgis version="3.28.0" styleCategories="AllStyleCategories" labelsEnabled="{int(label_field is not None)}">'
            f'<renderer-v2 type="singleSymbol"><symbols><symbol name="0" type="{kind}" alpha="1">'
            f'{_SYMBOLS[kind]}</symbol></symbols></renderer-v2>{labels}'
            f'<aliases>{aliases}</aliases><layerGeometryType>{escape(name) and {"marker": 0, "line": 1, "fill": 2}[kind]}'
            '</layerGeometryType></qgis>\n')  # fmt: skip
