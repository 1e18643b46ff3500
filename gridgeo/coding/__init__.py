"""Grid codes (R8): schemes, validation, hierarchy, the registry and code assignment.

The 19-digit code of the default scheme ``gridgeo-19``::

    37 02 03 026 004 | 1 | 003 | 000
    |  division code (12, NBS 统计用区划代码) | class | serial | sub-grid

Modules: :mod:`~gridgeo.coding.scheme` (layouts as data, presets),
:mod:`~gridgeo.coding.codes` (validate, parse, hierarchy, roll-ups),
:mod:`~gridgeo.coding.registry` (the SQLite registry with lineage),
:mod:`~gridgeo.coding.assign` (serial order and :func:`assign_codes`).
"""

from gridgeo.coding.assign import DEFAULT_BAND_M, assign_codes, serial_order
from gridgeo.coding.codes import (
    LEVELS,
    Division,
    ParsedCode,
    check_code,
    division_level,
    division_prefix,
    grids_in,
    parents_of,
    parse_code,
    rollup_totals,
    validate_code,
    validate_codes,
    validate_division_code,
)
from gridgeo.coding.registry import REASONS, CodeRecord, CodeRegistry, IssueRequest
from gridgeo.coding.scheme import (
    DEFAULT_SCHEME,
    SCHEMES,
    CodeScheme,
    SchemeField,
    get_scheme,
)
from gridgeo.ordering import metric_crs

__all__ = [
    "DEFAULT_BAND_M",
    "DEFAULT_SCHEME",
    "LEVELS",
    "REASONS",
    "SCHEMES",
    "CodeRecord",
    "CodeRegistry",
    "CodeScheme",
    "Division",
    "IssueRequest",
    "ParsedCode",
    "SchemeField",
    "assign_codes",
    "check_code",
    "division_level",
    "division_prefix",
    "get_scheme",
    "grids_in",
    "metric_crs",
    "parents_of",
    "parse_code",
    "rollup_totals",
    "serial_order",
    "validate_code",
    "validate_codes",
    "validate_division_code",
]
