"""Reading and writing: GeoPackage, GeoJSON, Shapefile, FlatGeobuf; column mappings; configs.

Reading never raises a raw library error at a planner: every failure becomes an
:class:`~gridgeo.errors.InputError` naming the file. Writing is atomic: a file is written
beside its target under a temporary name and moved into place only when complete, so an
interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import difflib
import errno
import glob
import os
import re
import shutil
import tempfile
import time
import tomllib
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj import CRS

from gridgeo.errors import GridgeoError, InputError, Problem
from gridgeo.i18n import N_, _
from gridgeo.schema import ALIASES, LAYERS

#: Driver for each output suffix.
DRIVERS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
    ".kml": "KML",
}

#: Declared Shapefile field names (dBASE allows 10 characters): GDAL's own truncation would
#: give ``community_`` and ``communit_1`` with a warning per field.
SHAPEFILE_FIELDS: dict[str, str] = {
    "community_code": "comm_code",
    "community_name": "comm_name",
    "dedicated_class": "ded_class",
    "n_buildings": "n_bldgs",
    "solver_status": "solver",
    "landuse_id": "landuse_id",
    "landuse_class": "lu_class",
    "previous_code": "prev_code",
    "building_id": "bldg_id",
    "parent_code": "parent",
    "workers": "workers",
}
#: Encodings a Shapefile's attributes may be written in (its ``.cpg`` says which).
SHAPEFILE_ENCODINGS: tuple[str, ...] = ("UTF-8", "GBK")


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
    data = _load_toml(path)
    problems: list[Problem] = []
    label = str(path)
    for key in data:
        if key not in CONFIG_SECTIONS:
            problems.append(Problem(label, None, _unknown("section", key, CONFIG_SECTIONS)))
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        problems.append(Problem(label, None, _("the config has no [layers.*] table")))
        raise InputError(problems)
    out: dict[str, LayerSource] = {}
    for name, spec in layers.items():
        source = _layer_spec(path, name, spec, problems)
        if source is not None:
            out[name] = source
    if problems:
        raise InputError(problems)
    return out


#: Top-level tables a config may hold.
CONFIG_SECTIONS: tuple[str, ...] = ("layers", "options")
#: Keys of the ``[options]`` table (how the inputs are read and what becomes a dedicated grid).
#: Keys of ``[options]`` that set :class:`gridgeo.units.UnitOptions` fields of the same name.
UNIT_OPTION_KEYS: tuple[str, ...] = ("road_discount", "block_cost", "site_margin_m")
OPTION_KEYS: tuple[str, ...] = ("skip_unknown_landuse", "estimate_households", "census", "dedicated_floor_m2",
                                *UNIT_OPTION_KEYS)
#: Keys of ``[options.estimate_households]``.
ESTIMATE_KEYS: tuple[str, ...] = ("floor_area_m2", "levels_column", "default_levels", "household_size")


def read_config_options(path: str | os.PathLike) -> dict:
    """Read the ``[options]`` table of a config (empty when it has none), checked key by key.

    Example::

        [options]
        skip_unknown_landuse = true          # an unknown land-use class is a warning, not an error
        census = "census.csv"                # community_code, households, residents per community
        dedicated_floor_m2 = { office_building = 2000, market = 500 }
        road_discount = 0.1                  # cutting along a street costs this share of its length (0-1)
        block_cost = 4                       # cutting between two footprints of one block: x this (>= 1)
        site_margin_m = 3                    # a strip this narrow between a site and its street joins the site

        [options.estimate_households]        # households a building lacks: footprint x levels
        floor_area_m2 = 70
        levels_column = "层数"

    Parameters
    ----------
    path : path-like
        The config file.

    Returns
    -------
    dict
        The table, with ``census`` as a path relative to the config's folder.

    Raises
    ------
    InputError
        Naming the file and the key of every unknown key or wrong value.
    """
    path = Path(path)
    opts = _load_toml(path).get("options", {})
    label = str(path)
    if not isinstance(opts, dict):
        raise InputError([Problem(label, None, _("[options] must be a table"))])
    problems = [Problem(label, None, _in("[options]", _unknown("key", k, OPTION_KEYS))) for k in opts if k not in OPTION_KEYS]
    out = dict(opts)
    if "skip_unknown_landuse" in opts and not isinstance(opts["skip_unknown_landuse"], bool):
        problems.append(Problem(label, None, _("[options] skip_unknown_landuse must be true or false")))
    if "census" in opts:
        if isinstance(opts["census"], str):
            out["census"] = path.parent / opts["census"]
        else:
            problems.append(Problem(label, None, _("[options] census must be a file name, in quotes")))
    floors = opts.get("dedicated_floor_m2", {})
    if not isinstance(floors, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in floors.values()
    ):
        problems.append(Problem(label, None, _("[options] dedicated_floor_m2 must map classes to areas in m² (≥ 0)")))
    from gridgeo.units import UnitOptions

    for key in UNIT_OPTION_KEYS:
        if key in opts:
            try:
                UnitOptions(**{key: opts[key]})
            except InputError as exc:
                problems += [Problem(label, None, _("[options] {key} {why}").format(key=key, why=p.message))
                             for p in exc.problems]  # fmt: skip
    est = opts.get("estimate_households", {})
    if not isinstance(est, dict):
        problems.append(Problem(label, None, _("[options.estimate_households] must be a table")))
    else:
        problems += [Problem(label, None, _in("[options.estimate_households]", _unknown("key", k, ESTIMATE_KEYS)))
                     for k in est if k not in ESTIMATE_KEYS]  # fmt: skip
    if problems:
        raise InputError(problems)
    return out
#: Keys of a ``[layers.NAME]`` table.
LAYER_KEYS: tuple[str, ...] = ("path", "layer", "columns")


def _load_toml(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(str(path), None, _("config file not found"))]) from None
    except IsADirectoryError:
        raise InputError([Problem(str(path), None, _("is a folder, not a config file"))]) from None
    except OSError as exc:
        raise InputError([Problem(str(path), None, _("cannot be read: {why}").format(why=exc.strerror or exc))]) from None
    try:
        # utf-8-sig: Windows editors (Notepad) save UTF-8 with a byte-order mark.
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        msg = _("not a valid TOML config: not UTF-8 text ({reason} at byte {start}); save it as UTF-8").format(
            reason=exc.reason, start=exc.start)
        raise InputError([Problem(str(path), None, msg)]) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError([Problem(str(path), None, _("not a valid TOML config: {why}").format(why=exc))]) from None


#: The sentence on an unknown name, per kind of name (whole sentences, so that each reads in Chinese).
_UNKNOWN: dict[str, str] = {
    "section": N_("unknown section {key!r}{hint} (known: {known})"),
    "key": N_("unknown key {key!r}{hint} (known: {known})"),
    "layer": N_("unknown layer {key!r}{hint} (known: {known})"),
    "column": N_("unknown column {key!r}{hint} (known: {known})"),
}


def _unknown(what: str, key: object, known: tuple[str, ...] | list[str]) -> str:
    """``unknown column 'colums'; did you mean 'columns'? known: ...``."""
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    hint = _("; did you mean {close!r}?").format(close=close[0]) if close else ""
    return _(_UNKNOWN[what]).format(key=key, hint=hint, known=", ".join(known))


def _in(where: str, message: str) -> str:
    """A message about one table of the config: ``[layers.buildings]: ...``."""
    return _("{where}: {message}").format(where=where, message=message)


def _layer_spec(path: Path, name: str, spec: object, problems: list[Problem]) -> LayerSource | None:
    """Check one ``[layers.NAME]`` table; append its problems; return its source when usable."""
    label = str(path)
    if name not in LAYERS:
        problems.append(Problem(label, None, _unknown("layer", name, list(LAYERS))))
        return None
    where = f"[layers.{name}]"
    if not isinstance(spec, dict):
        problems.append(Problem(label, None, _("{where} must be a table with a 'path'").format(where=where)))
        return None
    for key in spec:
        if key not in LAYER_KEYS:
            problems.append(Problem(label, None, _in(where, _unknown("key", key, LAYER_KEYS))))
    file, layer = spec.get("path"), spec.get("layer")
    ok = True
    if file is None:
        problems.append(Problem(label, None, _("layer {name!r} needs a 'path' (the file, in quotes)").format(name=name)))
        ok = False
    elif not isinstance(file, str) or not file.strip():
        problems.append(Problem(label, None, _in(where, _("'path' must be a file name in quotes, not {value!r} "
                                "({type})").format(value=file, type=type(file).__name__))))  # fmt: skip
        ok = False
    if layer is not None and not isinstance(layer, str):
        problems.append(Problem(label, None, _in(where, _("'layer' must be a layer name in quotes, not {value!r}").format(
            value=layer))))  # fmt: skip
        ok = False
    columns = _columns_spec(label, where, name, spec.get("columns", {}), problems)
    if not ok or columns is None:
        return None
    target = Path(file)
    if not target.is_absolute():
        target = path.parent / target
    return LayerSource(target, layer, columns)


def _columns_spec(
    label: str, where: str, name: str, columns: object, problems: list[Problem]
) -> dict[str, str] | None:
    if not isinstance(columns, dict):
        problems.append(Problem(label, None, _in(where, _("'columns' must be a table such as {example}, not "
                                "{value!r}").format(example='{ households = "户数" }', value=columns))))  # fmt: skip
        return None
    known = sorted(set(known_columns(name)))
    ok = True
    for canon, col in columns.items():
        if canon not in known:
            problems.append(Problem(label, None, _in(where, _unknown("column", canon, known))))
            ok = False
        elif not isinstance(col, str) or not col:
            problems.append(Problem(label, None, _in(where, _("column {canon} must name a file column in quotes, "
                                    "not {value!r}").format(canon=canon, value=col))))  # fmt: skip
            ok = False
    return {str(k): str(v) for k, v in columns.items()} if ok else None


def known_columns(layer: str) -> tuple[str, ...]:
    """The canonical columns of an input layer: its id, the required and the optional ones."""
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
            problems.append(Problem("--map", None, _("{item!r} is not canonical=column").format(item=item)))
            continue
        key, value = item.split("=", 1)
        layer, _dot, canon = key.rpartition(".")
        layer = layer or "*"
        if layer != "*" and layer not in LAYERS:
            problems.append(Problem("--map", None, _("unknown layer {layer!r} in {item!r}").format(layer=layer, item=item)))
            continue
        candidates = LAYERS if layer == "*" else {layer: LAYERS[layer]}
        if not any(canon in known_columns(n) for n in candidates):
            problems.append(Problem("--map", None, _("unknown column {canon!r} in {item!r}").format(canon=canon, item=item)))
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
        raise InputError([Problem(label, None, _("file not found"))])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(source.path, layer=source.layer, encoding=_encoding(source))
    except pyogrio.errors.DataLayerError:
        # The file opened: it is a GIS file, but the layer asked for is not in it.
        raise InputError([Problem(label, None, _layer_message(source))]) from None
    except pyogrio.errors.DataSourceError as exc:
        msg = _("cannot be read as a GIS file ({formats}): {why}").format(formats=_FORMATS, why=_first_line(exc))
        raise InputError([Problem(label, None, msg)]) from None
    except UnicodeDecodeError as exc:
        raise InputError([Problem(label, None, _encoding_message(source, exc))]) from None
    except (OSError, ValueError) as exc:
        raise InputError([Problem(label, None, _("cannot be read: {why}").format(why=exc))]) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputError([Problem(label, None, _("has no geometry column: not a spatial layer"))])
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
    if names:
        return _("has no layer {layer!r}; its layers are: {names}").format(layer=source.layer, names=", ".join(names))
    return _("has no layer {layer!r}; it has no readable layer").format(layer=source.layer)


def _encoding_message(source: LayerSource, exc: UnicodeDecodeError) -> str:
    if source.path.suffix.lower() == ".shp" and not source.path.with_suffix(".cpg").exists():
        return _("attributes are not UTF-8 ({reason} at byte {start}); a shapefile without a .cpg file is read "
                 "as UTF-8: add {cpg} holding the encoding of the .dbf, e.g. GBK for files from older Chinese "
                 "desktop GIS").format(reason=exc.reason, start=exc.start, cpg=source.path.with_suffix(".cpg").name)  # fmt: skip
    return _("cannot be read: text is not in the encoding the file declares ({why})").format(why=exc)


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
                Problem(label or kind, None, _("mapped column {column!r} (for {canon}) is not in the file; "
                        "columns are: {columns}").format(column=col, canon=canon, columns=", ".join(map(str, gdf.columns))))
            )
        else:
            rename[col] = canon
    if problems:
        raise InputError(problems)
    # A mapping names the column that holds a value; a file column already carrying the
    # canonical name is superseded by it (kept, it would become a second column of that name).
    shadowed = [c for c in rename.values() if c in gdf.columns and c not in rename]
    gdf = gdf.drop(columns=shadowed)
    taken = set(rename.values()) | {c for c in gdf.columns if c in known_columns(kind)}
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


#: errno values that mean the disk (or the user's quota) is full.
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _temp_name(target: Path) -> Path:
    """A hidden name beside ``target`` holding this process's id: ``.grids.4242-k3j9.gpkg``."""
    token = os.urandom(4).hex()
    return target.parent / f".{target.stem}.{os.getpid()}-{token}{target.suffix}"


def _pid_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, under another user
        return True
    except OSError:
        return False
    return True


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the hidden temporary files a killed run left beside ``target``.

    A write goes to ``.{stem}.{pid}-{token}{suffix}`` (and SQLite's ``-journal``/``-wal``/
    ``-shm`` beside it for a GeoPackage); a run killed mid-write leaves them. Those of a
    process that no longer runs are removed, and so are those without a process id
    (``.grids.k3j9x0a1.gpkg``, the names of gridgeo before 0.2); a live writer's are kept.

    Parameters
    ----------
    target : path-like
        The final file.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    target = Path(target)
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    head = f".{target.stem}."
    names = re.compile(re.escape(head) + r"(?:(\d+)-[0-9a-f]{8}|[a-z0-9_]{8})"
                       + re.escape(target.suffix) + r"(?:-journal|-wal|-shm)?")  # fmt: skip
    for leftover in sorted(target.parent.glob(f"{glob.escape(head)}*")):
        match = names.fullmatch(leftover.name)
        if match is None or (match.group(1) and _pid_alive(int(match.group(1)))):
            continue
        if leftover.is_file():
            try:
                leftover.unlink()
                removed.append(leftover)
            except OSError:  # another process took it first, or it is not ours to remove
                pass
    return removed


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    # GDAL (pyogrio) and SQLite word it instead of raising OSError.
    text = str(exc).lower()
    return "no space left on device" in text or "disk is full" in text or "database or disk is full" in text


@contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Stale temporary files of a killed run are removed first (:func:`remove_stale_temps`).
    On any failure the temporary files are removed and ``target`` is left as it was.

    Parameters
    ----------
    target : path-like
        The final file.

    Raises
    ------
    GridgeoError
        When the disk is full (``ENOSPC``/``EDQUOT``) while writing; ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = _temp_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except Exception as exc:
        if _disk_full(exc):
            raise GridgeoError(
                _("{path}: the disk is full while writing it; {name} was not changed. "
                  "Free some space (or write --out elsewhere) and run again").format(path=target, name=target.name)
            ) from None
        raise
    finally:
        for leftover in tmp.parent.glob(glob.escape(tmp.name) + "*"):
            leftover.unlink(missing_ok=True)


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | os.PathLike,
    *,
    crs: CRS | None = None,
    aliases: bool = True,
    style: bool = False,
) -> Path:
    """Write several layers to one GeoPackage atomically (all layers or none).

    Parameters
    ----------
    layers : mapping
        Layer name -> GeoDataFrame (an empty frame is written as an empty layer). A layer of
        mixed geometries can be split first with :func:`by_geometry_type`.
    path : path-like
        The ``.gpkg`` file to create or replace.
    crs : pyproj.CRS, optional
        Reproject every layer to this CRS first (default: keep each layer's CRS).
    aliases : bool
        Store the Chinese alias of every known column (``gpkg_data_columns``, the GeoPackage
        schema extension), which QGIS shows as the field's name.
    style : bool
        Also store a default QGIS style per layer (``layer_styles``: aliases, a fill or
        marker, grid codes as labels), so QGIS opens the file drawn and in Chinese. GDAL lists
        that table as one more layer, so a reader that takes "the only layer" of the file
        must then name its layer.

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
        if aliases or style:
            from gridgeo._qgis import add_styles

            add_styles(tmp, dict(layers), style=style)
    return path


def write_layer(
    gdf: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    encoding: str = "UTF-8",
) -> Path:
    """Write one layer atomically; the driver follows the suffix (see :data:`DRIVERS`).

    Every format goes through the same atomic writer: the file (a Shapefile's parts) is
    written under a temporary name beside ``path`` and moved into place only when complete.
    ``.kml`` writes KML in WGS 84 (for 奥维 / Google Earth), named by ``name`` or the key;
    ``.shp`` renames long fields to :data:`SHAPEFILE_FIELDS` (or a unique 10-character cut)
    and writes its ``.cpg``.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The layer; not modified.
    path : path-like
        The file to create or replace; missing folders are created.
    layer : str, optional
        The layer name inside the file (default: the file name without its suffix).
    encoding : {"UTF-8", "GBK"}
        The attribute encoding of a Shapefile (GBK for older Chinese desktop GIS); other
        formats are always UTF-8.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        On an unknown suffix or encoding.
    """
    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InputError([Problem(str(path), None, _("unknown output format; use one of {formats}").format(
            formats=", ".join(DRIVERS)))])
    if encoding.upper() not in SHAPEFILE_ENCODINGS:
        raise InputError([Problem(str(path), None, _("unknown encoding {encoding!r}; use UTF-8 or GBK").format(
            encoding=encoding))])
    path.parent.mkdir(parents=True, exist_ok=True)
    if driver == "ESRI Shapefile":
        return _write_shapefile(shapefile_fields(gdf), path, encoding.upper())
    if driver == "KML":
        # GDAL's own KML driver: LIBKML refuses a polygon that reprojection left touching
        # itself at a point, which the grid layer's own CRS holds as valid.
        gdf = kml_frame(gdf)
    with atomic_path(path) as tmp, _fixed_time():
        # Named explicitly: by default the layer would take the temporary file's name.
        pyogrio.write_dataframe(gdf, tmp, driver=driver, layer=layer or path.stem)
    return path


def shapefile_fields(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with field names dBASE keeps: :data:`SHAPEFILE_FIELDS`, else a unique 10-character cut."""
    taken: set[str] = set()
    names: dict[str, str] = {}
    geometry = gdf.geometry.name
    for col in gdf.columns:
        if col == geometry:
            continue
        short = SHAPEFILE_FIELDS.get(col, col)
        if len(short.encode("utf-8")) > 10:
            short = _cut(short, 10)
        k = 1
        base = short
        while short.lower() in taken:
            suffix = f"_{k}"
            short = _cut(base, 10 - len(suffix)) + suffix
            k += 1
        taken.add(short.lower())
        names[col] = short
    return gdf.rename(columns=names)


def _cut(name: str, size: int) -> str:
    """``name`` cut to ``size`` bytes of UTF-8, never inside a character."""
    out = ""
    for ch in name:
        if len((out + ch).encode("utf-8")) > size:
            break
        out += ch
    return out


def _write_shapefile(gdf: gpd.GeoDataFrame, path: Path, encoding: str) -> Path:
    # A shapefile is several files: written in a temporary folder, then each moved.
    tmpdir = Path(tempfile.mkdtemp(prefix=f".gridgeo-{os.getpid()}-", dir=path.parent))
    try:
        out = tmpdir / path.name
        pyogrio.write_dataframe(gdf, out, driver="ESRI Shapefile", encoding=encoding)
        cpg = out.with_suffix(".cpg")
        cpg.write_text(encoding, encoding="ascii")  # what QGIS and ArcGIS read the text by
        for part in sorted(tmpdir.iterdir()):
            os.replace(part, path.parent / part.name)
    except Exception as exc:
        if _disk_full(exc):
            raise GridgeoError(_("{path}: the disk is full while writing it; {name} was not changed. Free some "
                                 "space and run again").format(path=path, name=path.name)) from None  # fmt: skip
        if isinstance(exc, UnicodeEncodeError) or "encod" in str(exc).lower():
            raise InputError([Problem(str(path), None, _("a text cannot be written in {encoding}: {why}; write "
                                      "UTF-8 instead").format(encoding=encoding, why=_first_line(exc)))]) from None  # fmt: skip
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def kml_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer as KML wants it: WGS 84, a ``Name`` (the grid code) and a ``Description``."""
    out = gdf.to_crs(4326) if gdf.crs is not None else gdf.copy()
    if "Name" not in out.columns:
        for key in ("grid_code", "grid_id", "name", "community_name"):
            if key in out.columns:
                out.insert(0, "Name", out[key].astype("string").fillna("").astype(object))
                break
    if "Description" not in out.columns and "community_name" in out.columns:
        parts = [out["community_name"].astype("string").fillna("")]
        for col, unit in (("households", " 户"), ("residents", " 人")):
            if col in out.columns:
                parts.append(out[col].astype("string").fillna("") + unit)
        desc = parts[0]
        for p in parts[1:]:
            desc = desc + " · " + p
        out.insert(1, "Description", desc.astype(object))
    return out


def by_geometry_type(name: str, gdf: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Split a layer of mixed geometries into one layer per kind (QGIS draws one kind a layer).

    Parameters
    ----------
    name : str
        The layer's name, e.g. ``findings``.
    gdf : geopandas.GeoDataFrame

    Returns
    -------
    dict
        ``{name: gdf}`` when the layer holds one kind (or none); else ``{name_points: ...,
        name_lines: ..., name_polygons: ...}`` for the kinds present (rows without a
        geometry go with the points).
    """
    kinds = gdf.geom_type.fillna("Point").str.replace("Multi", "", regex=False)
    kinds = kinds.map({"Point": "points", "LineString": "lines", "Polygon": "polygons"}).fillna("other")
    if kinds.nunique() <= 1:
        return {name: gdf}
    return {f"{name}_{k}": gdf[kinds == k] for k in ("points", "lines", "polygons", "other") if (kinds == k).any()}


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as CSV atomically, in UTF-8 with a byte-order mark.

    The mark (``utf-8-sig``) is what Excel on Chinese Windows needs to read UTF-8 instead of
    GBK (without it, names come out garbled); pandas, Python's ``csv`` with ``utf-8-sig``,
    QGIS and LibreOffice all skip it.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)


#: Name of the lock file :func:`output_lock` keeps in an output folder.
LOCK_NAME = ".gridgeo.lock"


@contextmanager
def output_lock(folder: str | os.PathLike, *, timeout: float = 0.0):
    """Hold the output folder for one writer: a second run on it refuses (or waits).

    The lock is ``FOLDER/.gridgeo.lock``, holding the process id of its holder, locked with
    ``flock`` so that the system frees it when the holder dies: a lock file left by a killed
    run is taken over, a live holder's is not. The folder is created (which also tells early
    that it cannot be written). Not re-entrant: a process holds a folder once.

    Parameters
    ----------
    folder : path-like
        The output folder.
    timeout : float
        Seconds to wait for a live holder to finish (default 0: refuse at once).

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    GridgeoError
        When another live process holds the folder (its process id is named), or the
        folder cannot be created or written.
    """
    folder = Path(folder)
    lock = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = _acquire(lock, timeout)
    except OSError as exc:
        raise GridgeoError(
            _("{folder}: the output folder cannot be written ({why}); choose another --out or fix its "
              "permissions").format(folder=folder, why=exc.strerror or exc)
        ) from None
    try:
        yield lock
    finally:
        try:
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing releases the flock


def _acquire(lock: Path, timeout: float) -> int:
    """Open, flock and stamp the lock file; return its descriptor."""
    import fcntl

    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise GridgeoError(
                    _("{folder}: another gridgeo run ({holder}) is writing this output folder (lock file "
                      "{lock}); wait for it to end, or give another --out").format(
                          folder=lock.parent, holder=holder, lock=lock)
                ) from None
            time.sleep(0.2)
            continue
        # The holder before us may have removed the file while we waited on its inode.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        return fd


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return _("process {pid}").format(pid=text) if text.isdigit() else _("a process")


def check_not_input(
    target_paths: Iterable[str | os.PathLike | None], input_paths: Iterable[str | os.PathLike]
) -> None:
    """Refuse output or registry paths that are, or (for a folder) contain, an input file.

    A run writing ``--out D`` replaces files in ``D``; a registry is written in place. Neither
    may touch a planner's input: ``--out D`` with an input ``D/grids.gpkg``, or ``--registry
    input.gpkg``, would replace or alter it. Paths are compared after resolving symbolic links
    (and as the same file when both exist, which catches hard links); a shapefile input also
    brings its ``.dbf``, ``.shx``, ``.prj`` and ``.cpg``.

    Parameters
    ----------
    target_paths : iterable of path-like
        Output folders, output files and the registry file (None entries are skipped).
    input_paths : iterable of path-like
        The input files (as named by the config or the command line).

    Raises
    ------
    InputError
        One problem per target that is or contains an input file.
    """
    inputs: list[Path] = []
    for p in input_paths:
        path = Path(os.path.realpath(p))
        inputs.append(path)
        if path.suffix.lower() == ".shp":
            inputs += [path.with_suffix(s) for s in (".dbf", ".shx", ".prj", ".cpg")]
    problems: list[Problem] = []
    for t in target_paths:
        if t is None:
            continue
        target = Path(os.path.realpath(t))
        for path in inputs:
            if _same_file(target, path):
                problems.append(Problem(str(t), None, _("is the input file {path}: gridgeo never writes its "
                                        "inputs; give another output path").format(path=path)))  # fmt: skip
                break
            if path.is_relative_to(target) and (target.is_dir() or not target.exists()):
                problems.append(Problem(str(t), None, _("holds the input file {path}, which a run could "
                                        "replace: write the outputs to another folder").format(path=path)))  # fmt: skip
                break
    if problems:
        raise InputError(problems)


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
