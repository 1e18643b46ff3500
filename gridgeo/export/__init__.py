"""Export: maps and notice boards for people, and the staff plan they show (issue 7; S1, S2).

- :func:`write_map` / :func:`render_map` — the interactive HTML map of the grids; opens offline.
- :func:`assign_staff` — a roster's workers on the grids (S1), chosen by CP-SAT.
- :func:`write_boards` — notice boards (公示牌) and contact cards (民情联系卡) of a street (S2).
- :func:`write_change_map` — the change map of a re-run (R8).
- :func:`write_ledger` — the per-grid ledger 网格台账.xlsx (codes as text, a sheet per street).

The names are loaded on first use (PEP 562): the command line registers the export commands
without importing folium and the PDF backend, which every other command would pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module of this package that defines it.
_HOME = {
    "render_board": "boards", "render_card": "boards", "write_boards": "boards", "BoardTextWarning": "boards",
    "make_map": "maps", "render_map": "maps", "write_map": "maps",
    "check_roster": "roster", "read_roster": "roster", "sample_roster": "roster",
    "write_change_map": "changes", "write_ledger": "ledger", "ledger_table": "ledger",
    "StaffingError": "staff", "StaffPlan": "staff", "assign_staff": "staff", "grid_adjacency": "staff",
}  # fmt: skip

__all__ = [
    "BoardTextWarning",
    "StaffPlan",
    "StaffingError",
    "assign_staff",
    "check_roster",
    "grid_adjacency",
    "ledger_table",
    "make_map",
    "read_roster",
    "render_board",
    "render_card",
    "render_map",
    "sample_roster",
    "write_boards",
    "write_change_map",
    "write_ledger",
    "write_map",
]

if TYPE_CHECKING:
    from gridgeo.export.boards import BoardTextWarning, render_board, render_card, write_boards
    from gridgeo.export.changes import write_change_map
    from gridgeo.export.ledger import ledger_table, write_ledger
    from gridgeo.export.maps import make_map, render_map, write_map
    from gridgeo.export.roster import check_roster, read_roster, sample_roster
    from gridgeo.export.staff import StaffingError, StaffPlan, assign_staff, grid_adjacency


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(f"gridgeo.export.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridgeo.export' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
