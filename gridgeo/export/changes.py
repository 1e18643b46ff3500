"""The change map of a re-run: which grids kept their code, which are new, the old boundaries.

Drawn with matplotlib inside :func:`matplotlib.rc_context`, so the caller's settings are never
changed (a notebook's own plots keep their fonts).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.batch.changes import PreviousRun
from gridgeo.district import metric_crs
from gridgeo.export._fonts import cjk_family
from gridgeo.io import atomic_path


def _compound_patch(geoms, **style):
    """Polygons as one matplotlib PathPatch (holes kept: exteriors and interiors wind opposite)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    parts = shapely.orient_polygons(shapely.get_parts(np.asarray(geoms)))
    rings = shapely.get_rings(parts)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    start = np.r_[0, np.flatnonzero(np.diff(ring)) + 1]
    codes[start] = MplPath.MOVETO
    codes[np.r_[start[1:] - 1, len(xy) - 1]] = MplPath.CLOSEPOLY
    return PathPatch(MplPath(xy, codes), **style)


def write_change_map(
    previous: PreviousRun, grids: gpd.GeoDataFrame, changes: pd.DataFrame, path: str | Path
) -> Path:
    """Draw the changes: grids that kept their code, new grids, and the previous boundaries.

    Parameters
    ----------
    previous : PreviousRun
        The previous run (its grids and, when written, its community outlines).
    grids : GeoDataFrame
        The re-run's coded grids (``grid_code``, ``community_code``).
    changes : DataFrame
        The change report (``community_code``, ``status``, ``recoded_from``).
    path : path-like
        The PNG to write (atomically).

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    with matplotlib.rc_context({"font.family": cjk_family()}):
        return _draw(previous, grids, changes, Path(path))


def _draw(previous: PreviousRun, new: gpd.GeoDataFrame, changes: pd.DataFrame, path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    crs = metric_crs(new)
    old_codes = set(previous.grids["grid_code"])
    changed = set(changes.loc[changes["status"] != "unchanged", "community_code"])
    fig = Figure(figsize=(10, 10))
    ax = fig.subplots()
    redone = new["community_code"].isin(changed)
    mine = new[redone].to_crs(crs)
    # Context: the unchanged communities, as their outlines when the previous run wrote them
    # (a Qingdao-scale city: 51,000 vertices against 700,000 for its grids), else their grids;
    # only what is drawn is projected.
    if previous.communities is not None:
        outlines = previous.communities
        unchanged = outlines["community_code"].isin(set(new.loc[~redone, "community_code"]))
        same = outlines[unchanged].to_crs(crs)
    else:
        same = new[~redone].to_crs(crs)
    if len(same):
        # One compound path instead of a patch per polygon (a city has ~20,000 grids).
        # add_artist, not add_patch: the latter walks every vertex in Python to update the limits.
        ax.add_artist(_compound_patch(same.geometry.values, facecolor="#eeeeee", edgecolor="#bbbbbb", linewidth=0.3))
        x0, y0, x1, y1 = same.total_bounds
        ax.update_datalim([(x0, y0), (x1, y1)])
        ax.autoscale_view()
        ax.set_aspect("equal")
    if len(mine):
        kept = mine["grid_code"].isin(old_codes)
        mine[kept].plot(ax=ax, color="#a6dba0", edgecolor="black", linewidth=0.6)
        if (~kept).any():
            mine[~kept].plot(ax=ax, color="#fdb863", edgecolor="black", linewidth=0.6)
        was = previous.grids["community_code"].isin(changed | set(changes["recoded_from"]))
        prev = previous.grids[was].to_crs(crs)
        prev.boundary.plot(ax=ax, color="#c51b7d", linewidth=1.0, linestyle="--")
        for geom, code in zip(mine.geometry, mine["grid_code"], strict=True):
            p = geom.representative_point()
            ax.annotate(code[-7:], (p.x, p.y), ha="center", fontsize=6)
        x0, y0, x1, y1 = mine.total_bounds
        pad = 0.15 * max(x1 - x0, y1 - y0, 100.0)
        ax.set_xlim(x0 - pad, x1 + pad)
        ax.set_ylim(y0 - pad, y1 + pad)
    ax.legend(handles=[Patch(color="#a6dba0", label="保留编码的网格 grid kept its code"), Patch(color="#fdb863", label="新编码 new code"),
                       Patch(facecolor="none", edgecolor="#c51b7d", linestyle="--", label="原网格边界 previous grid boundary"),
                       Patch(color="#eeeeee", label="未变化的社区 community unchanged")], loc="lower right", fontsize=8)  # fmt: skip
    ax.set_title(f"网格调整：重新划分 {len(changed)} 个社区 changes: {len(changed)} community(ies) re-partitioned")
    ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
    return path
