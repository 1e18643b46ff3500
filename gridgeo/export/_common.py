"""Helpers shared by the export modules: checking a grid layer, naming, role labels.

Also the three guards of everything the exports make from a planner's data: text bound for a
web page is HTML-escaped (:func:`html_text`), text bound for matplotlib is plain text, never
mathtext (:func:`plain_text`), and a file name made from a code or a name is sanitised and
kept inside the output folder (:func:`output_file`).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import matplotlib
import pandas as pd
from pyproj import CRS

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.schema import grid_layer_problems

#: Role keys of a staff plan and how a notice board names them (规范 三.1, 办法 9).
ROLE_LABELS: dict[str, str] = {
    "leader": "网格长",
    "instructor": "网格指导员",
    "full_time": "专职网格员",
    "part_time": "兼职网格员",
}

#: Order in which roles are listed on a board or a tooltip.
ROLE_ORDER = ("leader", "full_time", "part_time", "instructor")

#: The duties a board shows for a worker whose roster row gives none (规范 附件1, 办法 7).
DEFAULT_DUTIES: dict[str, str] = {
    "leader": "统筹网格工作，调度网格员，组织民情分析会",
    "instructor": "指导相邻网格工作，协调解决网格上报问题",
    "full_time": "基础信息采集、社情民意收集、安全隐患排查、矛盾纠纷化解、法律法规宣传、公共服务代办",
    "part_time": "协助网格员开展信息采集、隐患排查、矛盾调解和政策宣传",
}


def grid_key(grids: pd.DataFrame) -> str:
    """The column that names a grid: ``grid_code`` when present, else ``grid_id``."""
    if "grid_code" in grids.columns:
        return "grid_code"
    if "grid_id" in grids.columns:
        return "grid_id"
    raise InputError([Problem("grids", None, _("the grid layer has neither grid_code nor grid_id"))])


def check_grids(
    grids: gpd.GeoDataFrame, *, source: str = "grids", need: tuple[str, ...] = ()
) -> str:
    """Check what every export needs of a grid layer; return its key column.

    Raises
    ------
    InputError
        Listing every missing column, a missing CRS, empty or duplicate grid keys.
    """
    if not isinstance(grids, gpd.GeoDataFrame):
        raise InputError([Problem(source, None, _("expected a GeoDataFrame of grids"))])
    try:
        key = grid_key(grids)
        problems: list[Problem] = []
    except InputError as exc:
        problems, key = list(exc.problems), None
    problems += grid_layer_problems(grids, source=source, need=need, key=key)
    if problems:
        raise InputError(problems)
    return key


def street_of(community_code: str) -> str:
    """The 9-digit street (街道/镇) prefix of a 12-digit community code."""
    return str(community_code)[:9]


def short_code(code: object) -> str:
    """A grid's short label: class digit and serial of a 19-digit code (``1003``), else the key."""
    text = str(code)
    return text[12:16] if len(text) == 19 and text.isdigit() else text


def to_lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``gdf`` in WGS 84 lon/lat (what Leaflet draws); CGCS2000 differs by < 1 m."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)):
        return gdf.copy()
    return gdf.to_crs(4326)


def html_text(value: object) -> str:
    """``value`` as text safe to put into HTML (``innerHTML``, a tooltip, a title).

    ``<img src=x onerror=...>`` becomes ``&lt;img src=x onerror=...&gt;``: shown as written,
    never run.
    """
    return html.escape("" if value is None else str(value), quote=True)


@contextmanager
def plain_text() -> Iterator[None]:
    r"""Draw text as written: ``$\alpha$`` stays ``$\alpha$``, ``$\foo{x}$`` raises nothing.

    Matplotlib reads text between dollar signs as mathtext, and a planner's names and duties
    are not maths. Figures and texts created inside keep this setting when saved later.
    """
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        yield


#: Characters kept in a file name made from data; anything else becomes ``_``.
_UNSAFE = re.compile(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+")
_MAX_NAME = 80


def safe_name(text: object) -> str:
    """A file-name part made from data (a code, a street): no separator, no dot, no control.

    A value that is already safe (``370203026``, ``3702030260041003000``) is kept as it is;
    any other is cleaned and gets a short hash of the original, so that two values never
    share a name (``../../../x`` becomes ``x-1f3a2b4c``).
    """
    raw = "" if text is None else str(text)
    clean = _UNSAFE.sub("_", raw).strip("_")[:_MAX_NAME]
    if clean == raw and clean:
        return clean
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{clean}-{digest}" if clean else digest


def output_file(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name``, checked to stay inside ``folder``.

    Raises
    ------
    InputError
        When the path would leave the folder (a name holding ``..`` or a separator).
    """
    base = Path(os.path.realpath(folder))
    path = Path(os.path.realpath(base / name))
    if path.parent != base:
        raise InputError([Problem(str(folder), None, _("file name {name!r} made from the data "
                                  "would leave the output folder: refused").format(name=name))])  # fmt: skip
    return Path(folder) / name


def worker_names(staff: object, key: str = "grid_code") -> dict[str, str]:
    """Grid key -> "name（role），..." from a staff plan or its assignments table, in role order."""
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
