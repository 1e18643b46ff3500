"""The per-grid ledger (网格台账) as an Excel workbook the street office opens as it is.

One row per grid: the 19-digit code as a text cell (Excel would otherwise show 3.70203E+18 and
drop the last digits), street, community, class, households, residents, area, workers (when a
staff plan is given) and flag; one sheet per street (街道/镇) in code order, and a summary
sheet first. The workbook is deterministic: fixed document times and zip entry times, so the
same grids give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridgeo.divisions import division_name
from gridgeo.export._common import check_grids, street_of, worker_names
from gridgeo.io import atomic_path

#: The document time stamped into the workbook (no wall clock: byte-identical outputs).
FIXED_TIME = dt.datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CLASS = {"community": "社区网格", "dedicated": "专属网格"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")

#: Columns of a street's sheet: (header, width in characters).
COLUMNS: tuple[tuple[str, int], ...] = (
    ("网格编码", 22), ("街道", 16), ("社区", 18), ("社区代码", 15), ("网格类别", 10),
    ("户数", 8), ("人口", 8), ("面积（平方米）", 14), ("网格员", 36), ("标记", 16),
)  # fmt: skip


def ledger_table(grids: gpd.GeoDataFrame, *, staff: Any = None) -> pd.DataFrame:
    """The ledger's rows, one per grid in code order (the sheets' content, as a table).

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer (``grid_code`` or ``grid_id``, ``community_code``; any CRS).
    staff : StaffPlan or pandas.DataFrame, optional
        A staff plan or its assignments: fills the 网格员 column (omitted without it).

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`COLUMNS` (without 网格员 when ``staff`` is None) and ``street_code``.
    """
    key = check_grids(grids, need=("community_code",))
    g = grids.sort_values(key, kind="stable")
    community = g["community_code"].astype(str)
    streets = community.map(street_of)
    names = {s: division_name(s + "000") or s for s in sorted(set(streets))}
    area = g.to_crs(_metric(g)).area.round(0) if "area_m2" not in g else g["area_m2"].astype(float).round(0)
    out = pd.DataFrame({
        "网格编码": g[key].astype(str).to_numpy(),
        "街道": streets.map(names).to_numpy(),
        "社区": (g["community_name"].fillna("").astype(str) if "community_name" in g else community).to_numpy(),
        "社区代码": community.to_numpy(),
        "网格类别": (g["grid_class"].map(_CLASS).fillna(g["grid_class"]) if "grid_class" in g
                   else pd.Series("社区网格", index=g.index)).to_numpy(),
        "户数": (g["households"].fillna(0).astype(int) if "households" in g else 0),
        "人口": (g["residents"].fillna(0).astype(int) if "residents" in g else 0),
        "面积（平方米）": pd.Series(area).astype(int).to_numpy(),
    })  # fmt: skip
    if staff is not None:
        who = worker_names(staff, key)
        out["网格员"] = [who.get(c, "") for c in out["网格编码"]]
    out["标记"] = (g["flag"].fillna("").astype(str).to_numpy() if "flag" in g else "")
    out["street_code"] = streets.to_numpy()
    return out.reset_index(drop=True)


def _metric(g: gpd.GeoDataFrame):
    from gridgeo.district import metric_crs

    return metric_crs(g)


def write_ledger(grids: gpd.GeoDataFrame, path: str | os.PathLike, *, staff: Any = None) -> Path:
    """Write the per-grid ledger 网格台账.xlsx atomically.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer; not modified.
    path : path-like
        The ``.xlsx`` file to write (e.g. ``out / "网格台账.xlsx"``).
    staff : StaffPlan or pandas.DataFrame, optional
        Adds each grid's workers (name and role).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        When the grid layer lacks its key, ``community_code`` or a CRS.
    """
    from openpyxl import Workbook

    table = ledger_table(grids, staff=staff)
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    _summary_sheet(summary, table)
    used = {"汇总"}
    for street, rows in table.groupby("street_code", sort=True):
        title = _sheet_title(f"{rows['街道'].iloc[0]}", street, used)
        _street_sheet(wb.create_sheet(title), rows.drop(columns="street_code"))
    wb.properties.creator = "gridgeo"
    wb.properties.lastModifiedBy = "gridgeo"
    wb.properties.title = "网格台账"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    wb.save(buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(_fixed_zip(buffer.getvalue()))
    return Path(path)


def _sheet_title(name: str, code: str, used: set[str]) -> str:
    r"""A sheet name Excel accepts (31 characters, no []:*?/\), unique in the workbook."""
    title = _SHEET_BAD.sub("_", name).strip("'")[:31] or code
    if title in used:
        title = f"{title[:21]}_{code}"[:31]
    used.add(title)
    return title


def _header(ws, headers: list[str], widths: list[int]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws.append(headers)
    for j, (head, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = ws.cell(row=1, column=j)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F3E3E1")
        cell.alignment = Alignment(horizontal="center")
        ws.column_dimensions[get_column_letter(j)].width = width
        del head
    ws.freeze_panes = "A2"


def _street_sheet(ws, rows: pd.DataFrame) -> None:
    widths = dict(COLUMNS)
    headers = list(rows.columns)
    _header(ws, headers, [widths.get(h, 12) for h in headers])
    text = {headers.index(h) + 1 for h in ("网格编码", "社区代码")}
    for values in rows.itertuples(index=False):
        ws.append([v.item() if hasattr(v, "item") else v for v in values])
        for j in text:  # codes are text: never 3.70203E+18, never a lost digit
            cell = ws.cell(row=ws.max_row, column=j)
            cell.value = str(cell.value)
            cell.number_format = "@"
    ws.auto_filter.ref = ws.dimensions


def _summary_sheet(ws, table: pd.DataFrame) -> None:
    headers = ["街道代码", "街道", "网格数", "社区网格", "专属网格", "户数", "人口", "面积（平方千米）"]
    _header(ws, headers, [12, 18, 8, 10, 10, 10, 10, 16])
    totals = [0, 0, 0, 0, 0, 0.0]
    for street, rows in table.groupby("street_code", sort=True):
        figures = [len(rows), int((rows["网格类别"] == "社区网格").sum()),
                   int((rows["网格类别"] == "专属网格").sum()), int(rows["户数"].sum()),
                   int(rows["人口"].sum()), round(float(rows["面积（平方米）"].sum()) / 1e6, 3)]  # fmt: skip
        ws.append([str(street), rows["街道"].iloc[0], *figures])
        ws.cell(row=ws.max_row, column=1).number_format = "@"
        totals = [a + b for a, b in zip(totals, figures, strict=True)]
    totals[-1] = round(totals[-1], 3)
    ws.append(["合计", "", *totals])


def _fixed_zip(data: bytes) -> bytes:
    """The same workbook with every zip entry stamped at a fixed time (zipfile uses the clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)",
                              rb"\g<1>" + FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\2", body)  # fmt: skip
            dst.writestr(entry, body)
    return out.getvalue()
