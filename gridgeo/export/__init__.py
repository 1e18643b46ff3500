"""Export: maps and notice boards for people, and the staff plan they show (issue 7; S1, S2).

- :func:`write_map` / :func:`render_map` — the interactive HTML map of the grids, offline.
"""

from __future__ import annotations

from gridgeo.export.maps import make_map, render_map, write_map

__all__ = ["make_map", "render_map", "write_map"]
