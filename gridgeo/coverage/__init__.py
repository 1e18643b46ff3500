"""Coverage: prove a grid layer obeys the rules, audit a hand-drawn one, merge departments' grids.

* :func:`check_coverage` — the proof (R5 全覆盖、无盲点, with R1–R4 and R8): findings with
  rule, severity, grid, location and a planner's sentence; ``.ok`` when nothing blocks.
* :func:`audit_grids` — the audit of an existing grid layer (R6): the same checks plus the
  codes, and a proposed rectification with a diff.
* :func:`crosswalk` — several departments' grids mapped onto the comprehensive grids (R7).

Each rule is a small function in :mod:`gridgeo.coverage.checks`.
"""

from gridgeo.coverage.audit import DIFF_COLUMNS, AuditResult, audit_grids
from gridgeo.coverage.checks import BLOCKING, RULES, WARNING, GridLayer, prepare
from gridgeo.coverage.merge import CROSSWALK_COLUMNS, Crosswalk, crosswalk
from gridgeo.coverage.proof import COVERAGE_COLUMNS, CoverageReport, check_coverage

__all__ = [
    "AuditResult",
    "CROSSWALK_COLUMNS",
    "Crosswalk",
    "DIFF_COLUMNS",
    "audit_grids",
    "crosswalk",
    "BLOCKING",
    "COVERAGE_COLUMNS",
    "CoverageReport",
    "GridLayer",
    "RULES",
    "WARNING",
    "check_coverage",
    "prepare",
]
