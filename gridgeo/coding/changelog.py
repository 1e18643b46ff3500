"""The record of approved edits: what moved, from which grid to which, when and by whom.

A planner's approved changes (:func:`gridgeo.edit.Review.approve`) are kept in the table
``approved_changes`` of the code registry, beside the codes and their lineage, so that
``gridgeo codes history CODE`` lists the edits that made or unmade a code.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

#: Columns of one approved change.
CHANGE_COLUMNS: list[str] = [
    "approval", "at", "by", "op", "community_code", "from_grid_id", "from_code", "to_grid_id",
    "to_code", "units", "households",
]  # fmt: skip

_DDL = """
CREATE TABLE IF NOT EXISTS approved_changes (
    approval INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    op TEXT NOT NULL,
    community_code TEXT NOT NULL,
    from_grid_id TEXT NOT NULL DEFAULT '',
    from_code TEXT NOT NULL DEFAULT '',
    to_grid_id TEXT NOT NULL DEFAULT '',
    to_code TEXT NOT NULL DEFAULT '',
    units TEXT NOT NULL DEFAULT '',
    households INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (approval, seq)
)
"""


def record_changes(registry: str | os.PathLike, rows: Iterable[Mapping[str, object]]) -> int:
    """Append one approval's changes to the registry, in one transaction.

    Parameters
    ----------
    registry : path-like
        The registry SQLite file (``registry.sqlite`` of an output folder).
    rows : iterable of mapping
        One mapping per change with the keys of :data:`CHANGE_COLUMNS` but ``approval``;
        ``units`` is the space-separated unit ids.

    Returns
    -------
    int
        The number of the approval (1 for the first one of the registry).
    """
    con = sqlite3.connect(str(registry), timeout=60.0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(_DDL)
            number = int(con.execute("SELECT COALESCE(MAX(approval), 0) + 1 FROM approved_changes").fetchone()[0])
            for seq, row in enumerate(rows):
                con.execute(
                    "INSERT INTO approved_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (number, seq, *(_cell(row, c) for c in CHANGE_COLUMNS[1:])),
                )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()
    return number


def _cell(row: Mapping[str, object], column: str) -> object:
    value = row.get(column, 0 if column == "households" else "")
    return int(value) if column == "households" else ("" if value is None else str(value))


def read_changes(registry: str | os.PathLike, *, code: str | None = None) -> pd.DataFrame:
    """The approved changes recorded in a registry, oldest first.

    Parameters
    ----------
    registry : path-like
        The registry SQLite file.
    code : str, optional
        Only the changes that took units from or gave units to the grid of this code.

    Returns
    -------
    DataFrame
        :data:`CHANGE_COLUMNS` (empty when nothing was approved yet).
    """
    if not Path(registry).exists():
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    con = sqlite3.connect(f"file:{Path(registry)}?mode=ro", uri=True, timeout=60.0)
    try:
        known = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'approved_changes'"
        ).fetchone()
        if known is None:
            return pd.DataFrame(columns=CHANGE_COLUMNS)
        sql = f"SELECT {', '.join(CHANGE_COLUMNS)} FROM approved_changes"
        args: tuple[str, ...] = ()
        if code is not None:
            sql += " WHERE from_code = ? OR to_code = ?"
            args = (code, code)
        rows = con.execute(sql + " ORDER BY approval, seq", args).fetchall()
    finally:
        con.close()
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)
