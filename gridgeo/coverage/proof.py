"""The coverage proof (R5 全覆盖、无盲点): run every rule's check and report the findings.

:func:`check_coverage` composes the small checks of :mod:`gridgeo.coverage.checks` and
returns a :class:`CoverageReport`: the findings as a GeoDataFrame (in the grids' CRS, with
the lon/lat of each), totals per rule and per community, and a Markdown rendering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gridgeo.coverage import checks
from gridgeo.coverage.checks import BLOCKING, RULES, WARNING, GridLayer, prepare
from gridgeo.district import FINDING_COLUMNS, District
from gridgeo.i18n import N_, _
from gridgeo.options import Band
from gridgeo.units import Units

#: Columns of a coverage findings layer, in order (the validation columns first).
COVERAGE_COLUMNS = [*FINDING_COLUMNS, "grid_id", "community_code", "defect", "related_id"]


@dataclass
class CoverageReport:
    """The verdict of the coverage proof.

    Attributes
    ----------
    findings : GeoDataFrame
        One row per finding (see :data:`COVERAGE_COLUMNS`): ``rule`` (R1–R8),
        ``severity`` (blocking / warning), ``defect`` (gap, overlap, straddle...),
        ``grid_id``, ``community_code``, ``related_id`` (the other grid, the building, the
        land-use feature), ``message``, ``lon``/``lat`` (EPSG:4326) and the geometry of
        the problem, in the grids' CRS.
    summary : DataFrame
        ``community_code`` (``ALL`` for the totals), ``rule``, ``blocking``, ``warning``.
    stats : dict
        Counts and areas: grids, communities, buildings, jurisdiction and covered area
        (m²), tolerance, band, wall time (s).
    """

    findings: gpd.GeoDataFrame
    summary: pd.DataFrame
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no finding is blocking: the layer is proved."""
        return not bool((self.findings["severity"] == BLOCKING).any())

    @property
    def blocking(self) -> gpd.GeoDataFrame:
        """The blocking findings."""
        return self.findings[self.findings["severity"] == BLOCKING]

    def verdict(self, scope: str = "") -> str:
        """One line for a planner: proved or refuted, with the blocking and warning counts.

        Parameters
        ----------
        scope : str
            What was proved (e.g. "the 3 re-partitioned community(ies)"), empty for the layer.

        Returns
        -------
        str
            In the language of :mod:`gridgeo.i18n`.
        """
        n_block = len(self.blocking)
        of = _(" of {scope}").format(scope=scope) if scope else ""
        return _("coverage (R5){of}: {verdict} - {blocking} blocking, {warnings} warning finding(s)").format(
            of=of, verdict=_("PROVED") if self.ok else _("REFUTED"), blocking=n_block,
            warnings=len(self.findings) - n_block)  # fmt: skip

    def by_rule(self) -> pd.DataFrame:
        """Totals per rule (every rule listed, zero when clean)."""
        s = self.summary[self.summary["community_code"] == "ALL"].set_index("rule")[
            [BLOCKING, WARNING]
        ]
        s = s.reindex(list(RULES), fill_value=0)
        s.insert(0, "what", [RULES[r] for r in s.index])
        return s.reset_index()

    def by_community(self) -> pd.DataFrame:
        """Totals per community with at least one finding (columns: rule-severity counts)."""
        s = self.summary[self.summary["community_code"] != "ALL"]
        if s.empty:
            return pd.DataFrame(columns=["community_code", BLOCKING, WARNING])
        t = s.groupby("community_code")[[BLOCKING, WARNING]].sum()
        rules = s.assign(n=s[BLOCKING] + s[WARNING]).pivot_table(
            index="community_code", columns="rule", values="n", aggfunc="sum", fill_value=0
        )
        return t.join(rules).reset_index()

    def to_markdown(self, *, max_findings: int = 200) -> str:
        """A summary a planner reads: the verdict, totals per rule and per community, the findings.

        Parameters
        ----------
        max_findings : int
            List at most this many findings (blocking first).

        Returns
        -------
        str
        """
        st = self.stats
        n_block = int((self.findings["severity"] == BLOCKING).sum())
        n_warn = len(self.findings) - n_block
        verdict = _("PROVED") if self.ok else _("REFUTED")
        lines = [_("# Coverage proof: {verdict}").format(verdict=verdict), ""]
        if self.ok:
            lines.append(_("The {grids} grids tile the {communities} communities with no gap or overlap above "
                           "{tol:g} m², every building lies in exactly one grid, and no rule is broken.").format(
                grids=st.get("grids", 0), communities=st.get("communities", 0), tol=st.get("tolerance_m2", 1.0)))
        else:
            lines.append(
                _("{n} blocking finding(s) must be fixed before the grids can be used.").format(n=n_block)
            )
        if n_warn:
            lines.append(_("{n} warning(s) are accepted with the reason given.").format(n=n_warn))
        lines += ["", "| | |", "|---|---|"]
        rows = [
            (N_("grids"), st.get("grids")), (N_("communities"), st.get("communities")),
            (N_("buildings"), st.get("buildings")), (N_("jurisdiction area"), _km2(st.get("jurisdiction_m2"))),
            (N_("area covered by grids"), _km2(st.get("covered_m2"))),
            (N_("band"), f"{st.get('lower')}–{st.get('upper')} {_(str(st.get('measure')))}"),
            (N_("tolerance"), f"{st.get('tolerance_m2', 1.0):g} m²"),
        ]  # fmt: skip
        lines += [f"| {_(k)} | {v} |" for k, v in rows]
        lines += [
            "",
            _("## Totals per rule"),
            "",
            _("| rule | what | blocking | warning |"),
            "|---|---|---:|---:|",
        ]
        for r in self.by_rule().itertuples(index=False):
            lines.append(f"| {r.rule} | {_(r.what)} | {r.blocking} | {r.warning} |")
        bc = self.by_community()
        lines += ["", _("## Totals per community"), ""]
        if bc.empty:
            lines.append(_("No community has a finding."))
        else:
            rules = [c for c in bc.columns if c in RULES]
            lines += [_("| community | blocking | warning | ") + " | ".join(rules) + " |",
                      "|---|---:|---:|" + "---:|" * len(rules)]  # fmt: skip
            for r in bc.itertuples(index=False):
                d = r._asdict()
                lines.append(f"| {d['community_code'] or _('(none)')} | {d[BLOCKING]} | {d[WARNING]} | "
                             + " | ".join(str(d[c]) for c in rules) + " |")  # fmt: skip
        if len(self.findings):
            f = self.findings.assign(_o=(self.findings["severity"] != BLOCKING).astype(int))
            f = f.sort_values(["_o", "rule", "community_code", "grid_id"], kind="stable")
            lines += ["", _("## Findings"), "", _("| severity | rule | grid | where (lon, lat) | finding |"),
                      "|---|---|---|---|---|"]  # fmt: skip
            for r in f.head(max_findings).itertuples(index=False):
                where = f"{r.lon:.6f}, {r.lat:.6f}" if pd.notna(r.lon) else ""
                lines.append(
                    f"| {_(r.severity)} | {r.rule} | {r.grid_id} | {where} | {r.message.replace('|', '/')} |"
                )
            if len(f) > max_findings:
                lines.append("\n" + _("… and {n} more in the findings layer.").format(n=len(f) - max_findings))
        return "\n".join(lines) + "\n"


def _km2(v) -> str:
    return "" if v is None else f"{v / 1e6:,.3f} km²"


def check_coverage(
    grids: gpd.GeoDataFrame,
    district: District,
    *,
    units: Units | None = None,
    band: Band | None = None,
    tolerance_m2: float = 1.0,
    codes: bool | None = None,
    scheme=None,
    source: str = "grids",
) -> CoverageReport:
    """Prove or refute that a grid layer covers a district by the rules (R1–R5, R8).

    Parameters
    ----------
    grids : GeoDataFrame
        The grid layer (any CRS): ``grid_id`` and polygons; optional ``community_code``,
        ``grid_class`` (community/dedicated), ``flag`` (the partitioner's reason for a grid
        out of band), ``grid_code``, ``households``. Not modified.
    district : District
        The validated district (communities, buildings, land use) the grids must tile.
    units : Units, optional
        The units the grids were built from: gives the exact dedicated parts (R4).
    band : Band, optional
        The band of a community grid (R1); default 300–500 households
        (:data:`gridgeo.options.DEFAULT_BANDS`).
    tolerance_m2 : float
        Gaps, overlaps and crossings up to this area (m²) are digitising noise.
    codes : bool, optional
        Check the ``grid_code`` column (R8); default: when the layer has one.
    scheme : CodeScheme or str, optional
        The code scheme (default ``gridgeo-19``).
    source : str
        Name of the grid layer in messages.

    Returns
    -------
    CoverageReport
        ``.ok`` is True when no finding is blocking.

    Raises
    ------
    InputError
        When the grid layer has no CRS or geometry.
    """
    band = band or Band.default()
    t0 = time.perf_counter()
    layer = prepare(grids, district, source=source)
    rows = run_checks(layer, units=units, band=band, tolerance_m2=tolerance_m2,
                      codes=("grid_code" in layer.grids.columns) if codes is None else codes, scheme=scheme)  # fmt: skip
    findings = findings_frame(rows, layer, grids.crs, source=source)
    stats = {
        "grids": len(layer.ids), "communities": len(district.communities), "buildings": len(district.buildings),
        "jurisdiction_m2": float(layer.jurisdiction.area), "covered_m2": float(layer.covered.area),
        "tolerance_m2": tolerance_m2, "lower": band.lower, "upper": band.upper, "measure": band.measure,
        "wall_s": round(time.perf_counter() - t0, 3),
    }  # fmt: skip
    return CoverageReport(findings, summarise_findings(findings), stats)


def run_checks(
    layer: GridLayer,
    *,
    units: Units | None = None,
    band: Band | None = None,
    tolerance_m2: float = 1.0,
    codes: bool = False,
    scheme=None,
) -> list[dict]:
    """Run every rule's check on a prepared layer; the finding dicts in the metric CRS."""
    rows: list[dict] = []
    rows += checks.check_geometry(layer, tolerance_m2=tolerance_m2)
    rows += checks.check_gaps(layer, tolerance_m2=tolerance_m2)
    rows += checks.check_overlaps(layer, tolerance_m2=tolerance_m2)
    rows += checks.check_nesting(layer, tolerance_m2=tolerance_m2)
    rows += checks.check_buildings(layer)
    rows += checks.check_absorbed(layer, tolerance_m2=tolerance_m2)
    rows += checks.check_dedicated(layer, units=units, tolerance_m2=tolerance_m2)
    rows += checks.check_band(layer, band=band or Band.default())
    if codes:
        rows += checks.check_codes(layer, scheme=scheme)
    return rows


def findings_frame(
    rows: list[dict], layer: GridLayer, crs, *, source: str = "grids"
) -> gpd.GeoDataFrame:
    """Finding dicts (metric CRS) as the findings layer in ``crs``, with lon/lat of each."""
    crs = CRS.from_user_input(crs) if crs is not None else layer.crs
    if not rows:
        cols = {c: pd.Series(dtype=object) for c in COVERAGE_COLUMNS}
        cols["lon"] = pd.Series(dtype=float)
        cols["lat"] = pd.Series(dtype=float)
        return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    df = pd.DataFrame(rows)
    geom = gpd.GeoSeries(df.pop("geometry").values, crs=layer.crs)
    pts = gpd.GeoSeries(shapely.point_on_surface(geom.values), crs=layer.crs).to_crs(4326)
    df["lon"] = np.round(pts.x.to_numpy(), 7)
    df["lat"] = np.round(pts.y.to_numpy(), 7)
    df["source"] = np.where(
        df["defect"].isin(["stray_building", "double_building"]), "buildings", source
    )
    df["feature_id"] = np.where(df["grid_id"] != "", df["grid_id"], df["related_id"])
    order = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5, "R8": 8}
    df["_r"] = df["rule"].map(order)
    df["_s"] = (df["severity"] != BLOCKING).astype(int)
    out = gpd.GeoDataFrame(df, geometry=geom.to_crs(crs).values, crs=crs)
    out = out.sort_values(["_s", "_r", "community_code", "grid_id", "lon", "lat"], kind="stable")
    return out[[*COVERAGE_COLUMNS, "geometry"]].reset_index(drop=True)


def summarise_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Totals per rule and per community: ``community_code`` (``ALL`` for all), ``rule``, ``blocking``, ``warning``."""
    cols = ["community_code", "rule", BLOCKING, WARNING]
    if not len(findings):
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c in cols[:2] else np.int64) for c in cols}
        )
    f = pd.DataFrame({"community_code": findings["community_code"].fillna("").astype(str),
                      "rule": findings["rule"], "severity": findings["severity"]})  # fmt: skip
    per = f.groupby(["community_code", "rule", "severity"]).size().unstack("severity", fill_value=0)
    per = per.reindex(columns=[BLOCKING, WARNING], fill_value=0).reset_index()
    tot = f.groupby(["rule", "severity"]).size().unstack("severity", fill_value=0)
    tot = tot.reindex(columns=[BLOCKING, WARNING], fill_value=0).reset_index()
    tot.insert(0, "community_code", "ALL")
    out = pd.concat([tot, per], ignore_index=True)[cols]
    out[[BLOCKING, WARNING]] = out[[BLOCKING, WARNING]].astype(np.int64)
    out.columns.name = None
    return out
