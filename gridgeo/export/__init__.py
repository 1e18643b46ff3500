"""Export: maps and notice boards for people, and the staff plan they show (issue 7; S1, S2).

- :func:`write_map` / :func:`render_map` — the interactive HTML map of the grids; opens offline.
- :func:`assign_staff` — a roster's workers on the grids (S1), chosen by CP-SAT.
- :func:`write_boards` — notice boards (公示牌) and contact cards (民情联系卡) of a street (S2).
"""

from __future__ import annotations

from gridgeo.export.boards import render_board, render_card, write_boards
from gridgeo.export.maps import make_map, render_map, write_map
from gridgeo.export.roster import check_roster, read_roster, sample_roster
from gridgeo.export.staff import StaffingError, StaffPlan, assign_staff, grid_adjacency

__all__ = [
    "StaffPlan",
    "StaffingError",
    "assign_staff",
    "check_roster",
    "grid_adjacency",
    "make_map",
    "read_roster",
    "render_board",
    "render_card",
    "render_map",
    "sample_roster",
    "write_boards",
    "write_map",
]
