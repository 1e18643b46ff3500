"""Several departments' grids onto the comprehensive grids (R7 多网合一).

:func:`crosswalk` tells, for each departmental grid (police, urban management, emergency,
market supervision ...), which comprehensive grids it maps to with the shares of area and
households, and flags the departmental grids that cut a comprehensive grid into pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.coverage.checks import WARNING, finding, polygonal_part, text_value
from gridgeo.coverage.proof import COVERAGE_COLUMNS
from gridgeo.district import District, metric_crs
from gridgeo.errors import InputError, Problem

#: Columns of the crosswalk table.
CROSSWALK_COLUMNS = [
    "department", "dept_grid_id", "grid_id", "grid_code", "area_m2", "share_of_dept_area", "share_of_grid_area",
    "households", "share_of_dept_households", "share_of_grid_households", "relation",
]  # fmt: skip


@dataclass
class Crosswalk:
    """Departmental grids mapped onto comprehensive grids.

    Attributes
    ----------
    table : DataFrame
        One row per (departmental grid, comprehensive grid) sharing land (see
        :data:`CROSSWALK_COLUMNS`). ``relation`` is ``whole`` (the comprehensive grid lies
        wholly in the departmental one), ``part`` (the departmental grid cuts it) or
        ``within`` (the departmental grid lies inside one comprehensive grid).
    departments : DataFrame
        One row per departmental grid: ``department``, ``dept_grid_id``, ``n_grids``,
        ``n_cut``, ``aligned`` (a union of whole comprehensive grids), ``uncovered_m2``.
    findings : GeoDataFrame
        Warnings (rule R7): a departmental grid cutting a comprehensive grid (the piece it
        takes), a departmental grid reaching beyond the comprehensive grids, a departmental
        grid without geometry or area (no geometry, no lon/lat).
    """

    table: pd.DataFrame
    departments: pd.DataFrame
    findings: gpd.GeoDataFrame

    def to_markdown(self) -> str:
        """Totals per department and the departmental grids that cut comprehensive grids."""
        d = self.departments
        lines = ["# Multi-department merge (R7 多网合一)", "",
                 "| department | grids | aligned with comprehensive grids | cutting some |", "|---|---:|---:|---:|"]  # fmt: skip
        for dep, g in d.groupby("department", sort=True):
            lines.append(
                f"| {dep} | {len(g)} | {int(g['aligned'].sum())} | {int((g['n_cut'] > 0).sum())} |"
            )
        if len(self.findings):
            lines += [
                "",
                "## Findings",
                "",
                "| department grid | finding | where (lon, lat) |",
                "|---|---|---|",
            ]
            for r in self.findings.itertuples(index=False):
                where = "—" if pd.isna(r.lon) or pd.isna(r.lat) else f"{r.lon:.6f}, {r.lat:.6f}"
                lines.append(f"| {r.related_id} | {r.message} | {where} |")
        return "\n".join(lines) + "\n"


def crosswalk(
    departments: Mapping[str, gpd.GeoDataFrame],
    grids: gpd.GeoDataFrame,
    *,
    district: District | None = None,
    id_column: str = "grid_id",
    min_share: float = 0.02,
    min_area_m2: float = 1.0,
) -> Crosswalk:
    """Map each departmental grid onto the comprehensive grids (R7).

    Parameters
    ----------
    departments : mapping
        Department name (``police``, ``城管`` ...) -> its grid layer (polygons, any CRS). The
        grid id is ``id_column`` when present, else ``grid_id``, ``id`` or the row number.
        Not modified.
    grids : GeoDataFrame
        The comprehensive grids (``grid_id``, optional ``grid_code``). Not modified.
    district : District, optional
        Gives the buildings for household shares and the metric CRS.
    id_column : str
        Column of the departmental grid ids.
    min_share : float
        A piece of a comprehensive grid below this share of its area (or of the
        departmental grid's) is digitising noise, not a cut.
    min_area_m2 : float
        Pieces below this area (m²) are ignored.

    Returns
    -------
    Crosswalk

    Raises
    ------
    InputError
        When a layer has no CRS.
    """
    problems = [
        Problem(name, None, "the layer has no CRS")
        for name, g in departments.items()
        if g.crs is None
    ]
    if grids.crs is None:
        problems.append(Problem("grids", None, "the comprehensive grid layer has no CRS"))
    if problems:
        raise InputError(problems)
    work = district.work_crs if district is not None else metric_crs(grids)
    cg = grids.to_crs(work).reset_index(drop=True)
    cgeoms = np.array([polygonal_part(g) for g in cg.geometry.values], dtype=object)
    cids = (
        [text_value(v) or f"row {i + 1}" for i, v in enumerate(cg["grid_id"])]
        if "grid_id" in cg
        else [f"row {i + 1}" for i in range(len(cg))]
    )
    ccodes = [text_value(v) for v in cg["grid_code"]] if "grid_code" in cg else [""] * len(cg)
    carea = shapely.area(cgeoms)
    tree = shapely.STRtree(cgeoms)
    if district is not None and len(district.buildings):
        bpts = shapely.point_on_surface(district.buildings.geometry.values)
        hh = district.buildings["households"].to_numpy(dtype=np.int64)
        btree = shapely.STRtree(bpts)
    else:
        bpts = hh = btree = None

    def households(geom) -> int:
        if btree is None or geom is None:
            return 0
        return int(hh[btree.query(geom, predicate="intersects")].sum())

    c_hh = np.array([households(g) for g in cgeoms], dtype=np.int64)
    rows, drows, frows = [], [], []
    for dep, layer in departments.items():
        dl = layer.to_crs(work).reset_index(drop=True)
        col = next((c for c in (id_column, "grid_id", "id") if c in dl.columns), None)
        dids = [
            (text_value(v) if col else "") or f"row {i + 1}"
            for i, v in enumerate(dl[col] if col else range(len(dl)))
        ]
        for did, raw in zip(dids, dl.geometry.values, strict=True):
            dg = polygonal_part(raw)
            if dg is None:
                # Kept in the answer: a departmental grid silently dropped is a grid no one maps.
                what = "no geometry" if raw is None or raw.is_empty else f"no area (a {raw.geom_type})"
                frows.append(finding("R7", WARNING, "dept_no_geometry",
                                     f"{dep} grid {did} has {what}: it maps to no comprehensive grid; "
                                     "draw its boundary, or remove it from the department's layer.",
                                     None, related_id=f"{dep}:{did}"))  # fmt: skip
                drows.append({"department": dep, "dept_grid_id": did, "n_grids": 0, "n_cut": 0,
                              "aligned": False, "uncovered_m2": None})  # fmt: skip
                continue
            d_area, d_hh = dg.area, households(dg)
            idx = tree.query(dg, predicate="intersects")
            inter = shapely.intersection(cgeoms[idx], dg)
            n_cut = 0
            covered = 0.0
            for j, piece in zip(idx, inter, strict=True):
                a = float(shapely.area(piece))
                if a < min_area_m2 or (a < min_share * carea[j] and a < min_share * d_area):
                    continue
                covered += a
                share_grid = a / carea[j] if carea[j] else 0.0
                h = households(piece)
                relation = (
                    "whole"
                    if share_grid >= 1 - min_share
                    else "within"
                    if a >= (1 - min_share) * d_area
                    else "part"
                )
                rows.append({
                    "department": dep, "dept_grid_id": did, "grid_id": cids[j], "grid_code": ccodes[j],
                    "area_m2": round(a, 1), "share_of_dept_area": round(a / d_area, 4), "share_of_grid_area": round(share_grid, 4),
                    "households": h, "share_of_dept_households": round(h / d_hh, 4) if d_hh else None,
                    "share_of_grid_households": round(h / c_hh[j], 4) if c_hh[j] else None, "relation": relation,
                })  # fmt: skip
                if relation == "part":
                    n_cut += 1
                    frows.append(finding("R7", WARNING, "dept_cuts_grid",
                                         f"{dep} grid {did} cuts comprehensive grid {cids[j]}: it takes {share_grid:.0%} of its "
                                         f"area ({h} households); align the two boundaries or map the grid to both.",
                                         polygonal_part(piece), grid_id=cids[j], related_id=f"{dep}:{did}"))  # fmt: skip
            outside = d_area - covered
            if outside > max(min_area_m2, min_share * d_area):
                part = polygonal_part(
                    shapely.difference(
                        dg, shapely.union_all(cgeoms[idx]) if len(idx) else shapely.Polygon()
                    )
                )
                frows.append(finding("R7", WARNING, "dept_outside",
                                     f"{dep} grid {did}: {outside:,.0f} m² lie outside every comprehensive grid.",
                                     part, related_id=f"{dep}:{did}"))  # fmt: skip
            drows.append({"department": dep, "dept_grid_id": did, "n_grids": sum(1 for r in rows if r["department"] == dep
                          and r["dept_grid_id"] == did), "n_cut": n_cut, "aligned": n_cut == 0 and outside <= max(min_area_m2, min_share * d_area),
                          "uncovered_m2": round(max(outside, 0.0), 1)})  # fmt: skip
    table = pd.DataFrame(rows, columns=CROSSWALK_COLUMNS)
    deps = pd.DataFrame(
        drows, columns=["department", "dept_grid_id", "n_grids", "n_cut", "aligned", "uncovered_m2"]
    )
    return Crosswalk(table, deps, _findings(frows, work, grids.crs))


def _findings(rows: list[dict], work, crs) -> gpd.GeoDataFrame:
    cols = [c for c in COVERAGE_COLUMNS if c not in ("lon", "lat")]
    if not rows:
        return gpd.GeoDataFrame({**{c: pd.Series(dtype=object) for c in cols}, "lon": pd.Series(dtype=float),
                                 "lat": pd.Series(dtype=float)}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)[[*COVERAGE_COLUMNS, "geometry"]]  # fmt: skip
    df = pd.DataFrame(rows)
    geom = gpd.GeoSeries(df.pop("geometry").values, crs=work)
    pts = gpd.GeoSeries(shapely.point_on_surface(geom.values), crs=work).to_crs(4326)
    df["lon"], df["lat"] = np.round(pts.x.to_numpy(), 7), np.round(pts.y.to_numpy(), 7)
    df["source"] = "departments"
    df["feature_id"] = df["related_id"]
    return gpd.GeoDataFrame(df, geometry=geom.to_crs(crs).values, crs=crs)[
        [*COVERAGE_COLUMNS, "geometry"]
    ]
