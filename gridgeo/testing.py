"""Helpers for a user's own tests, as :mod:`geopandas.testing` is for geopandas.

* :func:`make_district` — a small validated district on the real Qingdao frame, generated
  from a seed (:mod:`gridgeo.synth`, :func:`gridgeo.validate.validate_layers`);
* :func:`assert_grids_obey_rules` — the coverage proof (:func:`gridgeo.coverage.check_coverage`)
  as an assertion: it fails with the blocking findings of the chosen rules (R1–R5 by
  default), one line each.

Example::

    from gridgeo.partition import partition_district
    from gridgeo.testing import assert_grids_obey_rules, make_district

    district = make_district(seed=3)
    result = partition_district(district, time_limit=0.05, seed=3)
    assert_grids_obey_rules(result.grids, district, units=result.units)
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.coverage import BLOCKING, RULES, CoverageReport, check_coverage
from gridgeo.district import District
from gridgeo.options import Band
from gridgeo.synth import SAMPLE_STREETS, community_frame, generate_layers
from gridgeo.units import Units
from gridgeo.validate import validate_layers

__all__ = ["assert_grids_obey_rules", "make_district"]

#: Blocking findings listed in the message of a failed assertion (the rest are counted).
MAX_LISTED = 25


def make_district(
    seed: int = 0,
    *,
    street: str = SAMPLE_STREETS[0],
    n_communities: int | None = 3,
    scale: float = 0.3,
) -> District:
    """Build a small validated district from a seed, on the real Qingdao frame.

    The communities are real (codes and names of one street or town); their polygons,
    buildings, land use, roads and river are generated (:func:`gridgeo.synth.community_frame`
    and :func:`gridgeo.synth.generate_layers`) and validated
    (:func:`gridgeo.validate.validate_layers`). The same arguments give the same district.

    Parameters
    ----------
    seed : int
        Seed of every generated part.
    street : str
        12-digit code of a real Qingdao street or town (default 阜新路街道 of 市北区, urban;
        ``"370211108000"``, 宝山镇 of 黄岛区, gives villages).
    n_communities : int or None
        Keep this many of the street's communities: the first in code order and those
        whose generated polygons lie nearest it (those touching it first). None keeps all.
    scale : float
        Multiplies the generated households (1.0 is as in Qingdao, about 1,800–4,500 per urban
        community and 150–900 per village; the default 0.3 gives two to four grids of
        300–500 households per urban community and villages below the band).

    Returns
    -------
    District
        In the metric CRS of Qingdao (EPSG:4549); ``district.crs`` is EPSG:4490, the CRS the
        layers were generated in.

    Raises
    ------
    ValueError
        When ``street`` is not a street or town code of the Qingdao table, or
        ``n_communities`` is below 1.
    """
    if n_communities is not None and n_communities < 1:
        raise ValueError(f"n_communities must be at least 1, not {n_communities}")
    frame = community_frame([street], seed=seed)
    if n_communities is not None and n_communities < len(frame):
        frame = frame.sort_values("community_code").reset_index(drop=True)
        geoms = frame.geometry.values
        # Neighbours of the first community first (distance 0), nearest centre breaking ties.
        to_first = shapely.distance(geoms, geoms[0])
        to_centre = shapely.distance(
            shapely.point_on_surface(geoms), shapely.point_on_surface(geoms[0])
        )
        keep = np.lexsort((to_centre, to_first))[:n_communities]
        frame = frame.iloc[np.sort(keep)].reset_index(drop=True)
    return validate_layers(generate_layers(frame, seed=seed, scale=scale))


def assert_grids_obey_rules(
    grids: gpd.GeoDataFrame,
    district: District,
    *,
    rules: Sequence[str] = ("R1", "R2", "R3", "R4", "R5"),
    band: Band | None = None,
    units: Units | None = None,
    tolerance_m2: float = 1.0,
) -> CoverageReport:
    """Assert that a grid layer obeys the rules: no blocking finding of the coverage proof.

    Runs :func:`gridgeo.coverage.check_coverage` and fails when it reports a blocking finding
    of one of ``rules``. Warnings (a grid out of band that the partitioner flagged, a village
    below the band, a ring repaired without change of area) do not fail.

    Parameters
    ----------
    grids : GeoDataFrame
        The grid layer (any CRS), as from :func:`gridgeo.partition.partition_district` or read
        from a file: ``grid_id`` and polygons, optional ``community_code``, ``grid_class``,
        ``flag``, ``grid_code``. Not modified.
    district : District
        The validated district the grids must tile.
    rules : sequence of str
        The rules that fail the assertion, among ``R1``–``R5`` and ``R8`` (the codes, checked
        only when asked for here). Findings of other rules are in the report but do not fail.
    band : Band, optional
        The band of a community grid (R1); default 300–500 households.
    units : Units, optional
        The units the grids were built from (the exact dedicated parts, R4).
    tolerance_m2 : float
        Gaps, overlaps and crossings up to this area (m²) are digitising noise.

    Returns
    -------
    CoverageReport
        The report of the proof, with every finding (warnings, and findings of rules not
        asked for, included).

    Raises
    ------
    AssertionError
        With one line per blocking finding of ``rules``: rule, defect, grid id (and code),
        community and the finding's message.
    ValueError
        When ``rules`` names an unknown rule.
    InputError
        When the grid layer has no CRS or no geometry.
    """
    rules = (rules,) if isinstance(rules, str) else tuple(rules)
    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        raise ValueError(f"rules must be among {', '.join(RULES)}; got {list(rules)}")
    report = check_coverage(grids, district, units=units, band=band, tolerance_m2=tolerance_m2,
                            codes="R8" in rules)  # fmt: skip
    f = report.findings
    failed = f[(f["severity"] == BLOCKING) & f["rule"].isin(rules)]
    if len(failed):
        raise AssertionError(_describe(failed, grids, rules))
    return report


def _describe(failed: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, rules: tuple[str, ...]) -> str:
    """The failed findings as readable lines, with the grid's code when the layer has one."""
    codes = {}
    if "grid_code" in grids.columns and "grid_id" in grids.columns:
        codes = {str(i): str(c) for i, c in zip(grids["grid_id"], grids["grid_code"], strict=True)
                 if pd.notna(c) and str(c)}  # fmt: skip
    per_rule = failed["rule"].value_counts().reindex(list(rules)).dropna().astype(int)
    head = ", ".join(f"{r}: {n}" for r, n in per_rule.items())
    lines = [f"{len(failed)} blocking finding(s) ({head}):"]
    for r in failed.head(MAX_LISTED).itertuples(index=False):
        where = []
        if r.grid_id:
            code = codes.get(str(r.grid_id), "")
            where.append(f"grid {r.grid_id}" + (f" [{code}]" if code else ""))
        if r.community_code:
            where.append(f"community {r.community_code}")
        lines.append(f"  {r.rule} {r.defect} ({', '.join(where) or 'no grid'}): {r.message}")
    if len(failed) > MAX_LISTED:
        lines.append(
            f"  ... and {len(failed) - MAX_LISTED} more (see check_coverage(...).findings)"
        )
    return "\n".join(lines)
