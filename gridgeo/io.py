"""Reading and writing: GeoPackage, GeoJSON, Shapefile, FlatGeobuf; column mappings; configs.

Reading never raises a raw library error at a planner: every failure becomes an
:class:`~gridgeo.errors.InputError` naming the file. Writing is atomic: a file is written
beside its target under a temporary name and moved into place only when complete, so an
interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from gridgeo.errors import InputError, Problem
from gridgeo.schema import ALIASES, LAYERS

#: Driver for each output suffix.
DRIVERS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}


@dataclass
class LayerSource:
    """Where one input layer comes from and how its columns map to gridgeo's names.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    layer : str or None
        The layer inside a multi-layer file (GeoPackage); None for the first/only layer.
    columns : dict
        Canonical name -> name in the file, e.g. ``{"households": "HH_2020"}``.
    soft_columns : dict
        Like ``columns``, applied only when the file has that column (the command line's
        layer-free ``--map households=户数`` entries).
    """

    path: Path
    layer: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    soft_columns: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The file (and layer) as shown in messages."""
        return f"{self.path}" if self.layer is None else f"{self.path}:{self.layer}"


def read_config(path: str | os.PathLike) -> dict[str, LayerSource]:
    """Read a TOML config that names the input layers and their column mappings.

    Parameters
    ----------
    path : path-like
        A TOML file such as::

            [layers.communities]
            path = "communities.shp"
            columns = { community_code = "CUN_DM", name = "CUN_MC" }

            [layers.buildings]
            path = "buildings.gpkg"
            layer = "buildings"
            columns = { households = "户数", residents = "人口" }

        Relative paths are taken from the config file's folder.

    Returns
    -------
    dict
        Layer name -> :class:`LayerSource`.

    Raises
    ------
    InputError
        When the file is not valid TOML or names an unknown layer or column.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError([Problem(str(path), None, "config file not found")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), None, f"not a valid TOML config: {exc}")]) from None
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise InputError([Problem(str(path), None, "the config has no [layers.*] table")])
    problems: list[Problem] = []
    out: dict[str, LayerSource] = {}
    for name, spec in layers.items():
        if name not in LAYERS:
            problems.append(
                Problem(str(path), None, f"unknown layer {name!r}; known: {', '.join(LAYERS)}")
            )
            continue
        if not isinstance(spec, dict) or "path" not in spec:
            problems.append(Problem(str(path), None, f"layer {name!r} needs a 'path'"))
            continue
        file = Path(spec["path"])
        if not file.is_absolute():
            file = path.parent / file
        columns = dict(spec.get("columns", {}))
        known = set(_known_columns(name))
        for canon in columns:
            if canon not in known:
                problems.append(
                    Problem(
                        str(path),
                        None,
                        f"layer {name!r}: unknown column {canon!r}; known: {', '.join(sorted(known))}",
                    )
                )
        out[name] = LayerSource(file, spec.get("layer"), columns)
    if problems:
        raise InputError(problems)
    return out


def _known_columns(layer: str) -> tuple[str, ...]:
    spec = LAYERS[layer]
    return (spec.id_column, *spec.required, *spec.optional)


def parse_mapping(items: list[str] | None) -> dict[str, dict[str, str]]:
    """Parse ``--map`` options of the command line.

    Parameters
    ----------
    items : list of str
        Entries ``canonical=filecolumn`` (applies to every layer that knows the canonical
        name) or ``layer.canonical=filecolumn``.

    Returns
    -------
    dict
        Layer name -> {canonical: file column}; the key ``"*"`` holds layer-free entries.

    Raises
    ------
    InputError
        On an entry without ``=`` or with an unknown layer or column.
    """
    out: dict[str, dict[str, str]] = {}
    problems = []
    for item in items or []:
        if "=" not in item:
            problems.append(Problem("--map", None, f"{item!r} is not canonical=column"))
            continue
        key, value = item.split("=", 1)
        layer, _, canon = key.rpartition(".")
        layer = layer or "*"
        if layer != "*" and layer not in LAYERS:
            problems.append(Problem("--map", None, f"unknown layer {layer!r} in {item!r}"))
            continue
        candidates = LAYERS if layer == "*" else {layer: LAYERS[layer]}
        if not any(canon in _known_columns(n) for n in candidates):
            problems.append(Problem("--map", None, f"unknown column {canon!r} in {item!r}"))
            continue
        out.setdefault(layer, {})[canon] = value
    if problems:
        raise InputError(problems)
    return out


def read_layer(source: LayerSource, kind: str) -> gpd.GeoDataFrame:
    """Read one input layer and rename its columns to gridgeo's canonical names.

    Parameters
    ----------
    source : LayerSource
        The file, layer and column mapping.
    kind : str
        One of :data:`gridgeo.schema.LAYERS` (``communities``, ``buildings`` ...).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer with canonical column names, its CRS as in the file (possibly None:
        validation reports it), and ``attrs["source"]`` set to the file label.

    Raises
    ------
    InputError
        When the file is missing, is not a GIS file, or the layer does not exist.
    """
    label = source.label
    if not source.path.exists():
        raise InputError([Problem(label, None, "file not found")])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(source.path, layer=source.layer, encoding=_encoding(source))
    except pyogrio.errors.DataLayerError:
        # The file opened: it is a GIS file, but the layer asked for is not in it.
        raise InputError([Problem(label, None, _layer_message(source))]) from None
    except pyogrio.errors.DataSourceError as exc:
        msg = f"cannot be read as a GIS file ({_FORMATS}): {_first_line(exc)}"
        raise InputError([Problem(label, None, msg)]) from None
    except UnicodeDecodeError as exc:
        raise InputError([Problem(label, None, _encoding_message(source, exc))]) from None
    except (OSError, ValueError) as exc:
        raise InputError([Problem(label, None, f"cannot be read: {exc}")]) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputError([Problem(label, None, "has no geometry column: not a spatial layer")])
    columns = dict(source.columns)
    for canon, col in source.soft_columns.items():
        if canon not in columns and col in gdf.columns:
            columns[canon] = col
    gdf = rename_columns(gdf, kind, columns, label=label)
    gdf.attrs["source"] = label
    return gdf


_FORMATS = "GeoPackage, GeoJSON, Shapefile, FlatGeobuf"


def _first_line(exc: Exception) -> str:
    # GDAL's advice to prefix the path with a driver name is no help to a planner.
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text.split("; It might help to specify the correct driver")[0]


def _layer_message(source: LayerSource) -> str:
    try:
        names = [str(n) for n in pyogrio.list_layers(source.path)[:, 0]]
    except Exception:  # the layer error is the one to report, not a second one
        names = []
    known = f"its layers are: {', '.join(names)}" if names else "it has no readable layer"
    return f"has no layer {source.layer!r}; {known}"


def _encoding_message(source: LayerSource, exc: UnicodeDecodeError) -> str:
    if source.path.suffix.lower() == ".shp" and not source.path.with_suffix(".cpg").exists():
        return (f"attributes are not UTF-8 ({exc.reason} at byte {exc.start}); a shapefile without a "
                f".cpg file is read as UTF-8: add {source.path.with_suffix('.cpg').name} holding the "
                "encoding of the .dbf, e.g. GBK for files from older Chinese desktop GIS")  # fmt: skip
    return f"cannot be read: text is not in the encoding the file declares ({exc})"


def _encoding(source: LayerSource) -> str | None:
    # Shapefiles from Chinese desktop GIS often lack a .cpg; their attributes are then read
    # as UTF-8 (the regulation's systems exchange UTF-8) unless the .cpg says otherwise.
    if source.path.suffix.lower() == ".shp" and not source.path.with_suffix(".cpg").exists():
        return "UTF-8"
    return None


def rename_columns(
    gdf: gpd.GeoDataFrame, kind: str, columns: Mapping[str, str] | None = None, *, label: str = ""
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` with canonical column names.

    Explicit ``columns`` (canonical -> file column) win, also over a file column that already
    has the canonical name (that column is dropped); then the aliases of
    :data:`gridgeo.schema.ALIASES`, compared case-insensitively.

    Raises
    ------
    InputError
        When a mapped file column does not exist.
    """
    columns = dict(columns or {})
    rename: dict[str, str] = {}
    problems = []
    for canon, col in columns.items():
        if col not in gdf.columns:
            problems.append(
                Problem(label or kind, None, f"mapped column {col!r} (for {canon}) is not in the file; "
                        f"columns are: {', '.join(map(str, gdf.columns))}")
            )
        else:
            rename[col] = canon
    if problems:
        raise InputError(problems)
    # A mapping names the column that holds a value; a file column already carrying the
    # canonical name is superseded by it (kept, it would become a second column of that name).
    shadowed = [c for c in rename.values() if c in gdf.columns and c not in rename]
    gdf = gdf.drop(columns=shadowed)
    taken = set(rename.values()) | {c for c in gdf.columns if c in _known_columns(kind)}
    aliases = {k.lower(): v for k, v in ALIASES.get(kind, {}).items()}
    for col in gdf.columns:
        if col in rename or col == gdf.geometry.name:
            continue
        target = aliases.get(str(col).lower())
        if target and target not in taken:
            rename[col] = target
            taken.add(target)
    return gdf.rename(columns=rename)


#: GeoPackage writes stamp the current time into their metadata; gridgeo stamps this fixed
#: instant instead so that the same inputs and seed give byte-identical files.
FIXED_TIMESTAMP = "2000-01-01T00:00:00.000Z"


@contextmanager
def _fixed_time():
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_TIMESTAMP})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


@contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Parameters
    ----------
    target : path-like
        The final file.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        for leftover in Path(tmp).parent.glob(Path(tmp).name + "*"):
            leftover.unlink(missing_ok=True)


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame], path: str | os.PathLike, *, crs: CRS | None = None
) -> Path:
    """Write several layers to one GeoPackage atomically (all layers or none).

    Parameters
    ----------
    layers : mapping
        Layer name -> GeoDataFrame (an empty frame is written as an empty layer).
    path : path-like
        The ``.gpkg`` file to create or replace.
    crs : pyproj.CRS, optional
        Reproject every layer to this CRS first (default: keep each layer's CRS).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    with atomic_path(path) as tmp, _fixed_time():
        for name, gdf in layers.items():
            if crs is not None and gdf.crs is not None:
                gdf = gdf.to_crs(crs)
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG")
    return path


def write_layer(gdf: gpd.GeoDataFrame, path: str | os.PathLike, *, layer: str | None = None) -> Path:
    """Write one layer atomically; the driver follows the suffix (see :data:`DRIVERS`).

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer.
    path : path-like
        The file to create or replace; missing folders are created.
    layer : str, optional
        The layer name inside the file (default: the file name without its suffix).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        On an unknown suffix.
    """
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError([Problem(str(path), None, f"unknown output format; use one of {', '.join(DRIVERS)}")])
    path.parent.mkdir(parents=True, exist_ok=True)
    if driver == "ESRI Shapefile":
        # A shapefile is several files: write them in a temporary folder, then move each.
        tmpdir = Path(tempfile.mkdtemp(prefix=".gridgeo-", dir=path.parent))
        try:
            out = tmpdir / path.name
            pyogrio.write_dataframe(gdf, out, driver=driver, encoding="UTF-8")
            for part in tmpdir.iterdir():
                os.replace(part, path.parent / part.name)
        finally:
            for part in tmpdir.iterdir():
                part.unlink()
            tmpdir.rmdir()
        return path
    with atomic_path(path) as tmp, _fixed_time():
        # Named explicitly: by default the layer would take the temporary file's name.
        pyogrio.write_dataframe(gdf, tmp, driver=driver, layer=layer or path.stem)
    return path


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as UTF-8 CSV atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)
