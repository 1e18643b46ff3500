"""The grid-code registry: every code ever issued, in a SQLite file beside the grids.

A planner keeps one registry per jurisdiction. It records each code's status
(``active``/``retired``), validity dates, community, a geometry snapshot (WKB in the
layer's CRS, with the CRS) and its lineage (which codes replaced it, and why). Serials
are monotonic per community and class: the registry keeps a high-water mark, so a
retired code is never issued again.

Every write runs in a ``BEGIN IMMEDIATE`` transaction with a busy timeout, so two
processes writing the same file at once never issue the same code (the second waits).

Schema (version 1)
------------------
``meta(key PRIMARY KEY, value)``
    ``schema_version``, ``scheme`` (the code scheme as JSON; a registry holds one scheme).
``codes(code PRIMARY KEY, community_code, class_key, grid_class, serial, subgrid, status,
valid_from, valid_to, grid_id, geometry_wkb, crs, issued_at)``
    ``class_key`` is the class digit of the code ('' for schemes without one);
    dates are ISO ``YYYY-MM-DD``; ``valid_to`` is NULL while active.
``serials(community_code, class_key, high_water, PRIMARY KEY(community_code, class_key))``
    The highest serial ever issued.
``lineage(old_code, new_code, reason, date, note, PRIMARY KEY(old_code, new_code))``
    ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from pyproj import CRS

from gridgeo.coding.codes import SchemeLike, validate_code
from gridgeo.coding.scheme import DIVISION_ROLES, CodeScheme, get_scheme
from gridgeo.errors import CodeError, RegistryError
from gridgeo.i18n import _

SCHEMA_VERSION = "1"

#: Why a code was replaced.
REASONS: tuple[str, ...] = ("split", "merge", "boundary_change", "community_recoded")

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS codes (
    code TEXT PRIMARY KEY,
    community_code TEXT NOT NULL,
    class_key TEXT NOT NULL,
    grid_class TEXT NOT NULL,
    serial INTEGER NOT NULL,
    subgrid INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    grid_id TEXT,
    geometry_wkb BLOB,
    crs TEXT,
    issued_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS codes_community ON codes (community_code, class_key, status);
CREATE TABLE IF NOT EXISTS serials (
    community_code TEXT NOT NULL,
    class_key TEXT NOT NULL,
    high_water INTEGER NOT NULL,
    PRIMARY KEY (community_code, class_key)
);
CREATE TABLE IF NOT EXISTS lineage (
    old_code TEXT NOT NULL REFERENCES codes (code),
    new_code TEXT NOT NULL REFERENCES codes (code),
    reason TEXT NOT NULL CHECK (reason IN ('split', 'merge', 'boundary_change', 'community_recoded')),
    date TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (old_code, new_code)
);
"""

_CODE_COLUMNS = (
    "code",
    "community_code",
    "class_key",
    "grid_class",
    "serial",
    "subgrid",
    "status",
    "valid_from",
    "valid_to",
    "grid_id",
    "geometry_wkb",
    "crs",
    "issued_at",
)


def as_date(date: dt.date | str | None) -> str:
    """Return an ISO date string (today when None).

    Raises
    ------
    CodeError
        When ``date`` is not a date or an ISO ``YYYY-MM-DD`` string.
    """
    if date is None:
        return dt.date.today().isoformat()
    if isinstance(date, dt.datetime):
        return date.date().isoformat()
    if isinstance(date, dt.date):
        return date.isoformat()
    try:
        return dt.date.fromisoformat(str(date)).isoformat()
    except ValueError as exc:
        raise CodeError(_("date {date!r} is not an ISO date (YYYY-MM-DD)").format(date=date)) from exc


def crs_string(crs: Any) -> str | None:
    """Return a CRS as ``AUTH:CODE`` when it has one, else as WKT (None stays None)."""
    if crs is None:
        return None
    c = CRS.from_user_input(crs)
    auth = c.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else c.to_wkt()


def _check_file(path: Path, *, existed: bool, read_only: bool) -> None:
    """Refuse what SQLite would silently take for a new database, or cannot open at all."""
    if existed and path.is_dir():
        raise RegistryError(_("{path}: is a folder, not a registry file").format(path=path))
    if existed and path.stat().st_size == 0:
        # SQLite reads an empty file as a new database: the history it held would be lost.
        raise RegistryError(
            _("{path}: the registry file is empty (0 bytes): its code history is lost or was never written; "
              "restore it from a backup, or remove the file to start a new registry").format(path=path)
        )  # fmt: skip
    if read_only and not existed:
        raise RegistryError(_("{path}: registry file not found").format(path=path))


def _connect(path: Path, timeout: float, read_only: bool) -> sqlite3.Connection:
    if read_only:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        con = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    else:
        con = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    con.execute("PRAGMA foreign_keys = ON")
    return con


@dataclass(frozen=True)
class CodeRecord:
    """One registry row (see the module docstring for the columns)."""

    code: str
    community_code: str
    class_key: str
    grid_class: str
    serial: int
    subgrid: int
    status: str
    valid_from: str
    valid_to: str | None
    grid_id: str | None
    geometry_wkb: bytes | None
    crs: str | None
    issued_at: str

    @property
    def geometry(self) -> shapely.Geometry | None:
        """The geometry snapshot, in :attr:`crs`."""
        return None if self.geometry_wkb is None else shapely.from_wkb(self.geometry_wkb)


@dataclass(frozen=True)
class IssueRequest:
    """What :meth:`CodeRegistry.issue_many` needs to issue one code.

    Parameters
    ----------
    community_code : str
        12-digit NBS code of the grid's community or village.
    grid_class : str
        ``community`` or ``dedicated``.
    geometry : shapely geometry, optional
        Snapshot of the grid, in ``crs``.
    crs : str or CRS, optional
    grid_id : str, optional
        The producing run's grid id, for tracing.
    serial : int, optional
        Ask for this serial (kept across a community re-coding); granted only when the
        code was never issued, else the next serial is issued.
    subgrid : int
        The sub-grid number (0 for the grid itself).
    """

    community_code: str
    grid_class: str = "community"
    geometry: shapely.Geometry | None = None
    crs: Any = None
    grid_id: str | None = None
    serial: int | None = None
    subgrid: int = 0


class CodeRegistry:
    """A persistent registry of grid codes in a SQLite file.

    Parameters
    ----------
    path : str or path
        The SQLite file; created (with its tables) when missing. An existing file must be a
        gridgeo registry: an empty (0-byte) file, a damaged one or another SQLite file (a
        GeoPackage) is refused, never written.
    scheme : CodeScheme, str, path or None
        The code scheme. A new registry stores it; an existing one must match it (None
        takes the stored scheme, or the default for a new file).
    timeout : float
        Seconds a writer waits for another process's transaction (busy timeout).
    read_only : bool
        Open an existing registry read-only (SQLite ``mode=ro``): nothing is created or
        written; a write raises :class:`~gridgeo.errors.RegistryError`.
    autocommit : bool
        True (default): every write is committed when it returns. False: the writes of this
        object form one transaction, made visible only by :meth:`commit`; :meth:`rollback`,
        :meth:`close` or leaving a ``with`` block without a commit discards them. A caller
        assigns codes, writes its outputs, and commits last, so that a failure anywhere
        leaves the registry as it was. The first write takes the database's write lock and
        holds it until the commit or rollback (other writers wait up to ``timeout``).

    Raises
    ------
    RegistryError
        When the file is not a gridgeo registry, is empty or damaged, holds another scheme,
        or (``read_only``) does not exist.

    Examples
    --------
    >>> with CodeRegistry("grids.codes.sqlite") as reg:  # doctest: +SKIP
    ...     code = reg.issue("370203026004", grid_class="community")
    >>> with CodeRegistry("registry.sqlite", autocommit=False) as reg:  # doctest: +SKIP
    ...     coded = assign_codes(grids, registry=reg)
    ...     write_layers({"grids": coded}, out / "grids.gpkg")
    ...     reg.commit()  # the codes become visible with the outputs
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        scheme: SchemeLike = None,
        timeout: float = 60.0,
        read_only: bool = False,
        autocommit: bool = True,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.autocommit = autocommit
        self._savepoints = 0
        existed = self.path.exists()
        _check_file(self.path, existed=existed, read_only=read_only)
        try:
            self._con = _connect(self.path, timeout, read_only)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        try:
            self.scheme = self._open(scheme, existed=existed)
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise self._damaged(exc) from None
        except BaseException:
            self._con.close()
            raise
        if self.scheme.field_for_role("serial") is None:
            raise RegistryError(_("scheme {scheme!r} has no serial field to issue").format(scheme=self.scheme.name))
        if not self.scheme.has_division:
            raise RegistryError(_("scheme {scheme!r} holds no 12-digit division code").format(scheme=self.scheme.name))

    def _open(self, scheme: SchemeLike, *, existed: bool) -> CodeScheme:
        """Check an existing file (integrity, tables, scheme); create the tables of a new one."""
        if existed:
            check = self._con.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise RegistryError(
                    _("{path}: the registry file is damaged ({why}); restore it from a backup: its code history "
                      "cannot be rebuilt").format(path=self.path, why=check[0] if check else _("no answer"))
                )  # fmt: skip
            tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"meta", "codes", "serials", "lineage"} <= tables:
                raise RegistryError(
                    _("{path}: is a SQLite file but not a gridgeo code registry (tables: {tables}); it is left "
                      "untouched: give the path of a registry, or a new file to start one").format(
                          path=self.path, tables=", ".join(sorted(tables)) or _("none"))
                )  # fmt: skip
            row = self._con.execute("SELECT value FROM meta WHERE key = 'scheme'").fetchone()
            if row is None:
                raise RegistryError(_("{path}: the registry holds no code scheme; it is damaged").format(path=self.path))
            stored = CodeScheme.from_dict(json.loads(row[0]))
            if scheme is not None and get_scheme(scheme).to_json() != stored.to_json():
                raise RegistryError(
                    _("{path}: registry holds codes of scheme {stored!r}, not {given!r}; use a separate registry "
                      "per scheme").format(path=self.path, stored=stored.name, given=get_scheme(scheme).name)
                )  # fmt: skip
            return stored
        chosen = get_scheme(scheme)
        # A new registry's tables are committed at once, whatever ``autocommit``: a run that
        # fails later leaves an empty registry, never a 0-byte file.
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for stmt in _DDL.split(";"):
                if stmt.strip():
                    cur.execute(stmt)
            cur.execute(
                "INSERT INTO meta VALUES ('schema_version', ?), ('scheme', ?)",
                (SCHEMA_VERSION, chosen.to_json()),
            )
            cur.execute("COMMIT")
        except BaseException:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        return chosen

    def _damaged(self, exc: sqlite3.DatabaseError) -> RegistryError:
        if self.read_only and "readonly" in str(exc).lower():
            return RegistryError(_("{path}: the registry was opened read-only; this command cannot change it").format(
                path=self.path))  # fmt: skip
        return RegistryError(
            _("{path}: cannot use the file as a grid-code registry ({why}); it is damaged or not a registry: "
              "restore it from a backup, or give a new file to start a registry").format(path=self.path, why=exc)
        )  # fmt: skip

    # -- plumbing -------------------------------------------------------------------
    def close(self) -> None:
        """Close the database connection (uncommitted writes of ``autocommit=False`` are discarded)."""
        try:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass
        self._con.close()

    def commit(self) -> None:
        """Make the writes made so far visible to others (``autocommit=False``; else a no-op).

        Raises
        ------
        RegistryError
            When the commit fails (disk full, damaged file); the writes are then discarded.
        """
        if not self._con.in_transaction:
            return
        try:
            self._con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.rollback()
            if "full" in str(exc).lower():
                raise RegistryError(
                    _("{path}: the disk is full; the new codes were not recorded (the registry is as it was)").format(
                        path=self.path)
                ) from None  # fmt: skip
            raise self._damaged(exc) from None

    def rollback(self) -> None:
        """Discard the writes not yet committed (``autocommit=False``)."""
        try:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def __enter__(self) -> CodeRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction that takes the database lock up front (BEGIN IMMEDIATE).

        With ``autocommit=False`` the outer transaction stays open (see :meth:`commit`) and
        each write is a savepoint in it: a failed write is undone alone.
        """
        if self.read_only:
            raise RegistryError(_("{path}: the registry was opened read-only; this command cannot change it").format(
                path=self.path))  # fmt: skip
        cur = self._con.cursor()
        try:
            if not self._con.in_transaction:
                cur.execute("BEGIN IMMEDIATE")
            name = f"w{self._savepoints}"
            self._savepoints += 1
            cur.execute(f"SAVEPOINT {name}")
            try:
                yield cur
            except BaseException:
                self._con.execute(f"ROLLBACK TO {name}")
                self._con.execute(f"RELEASE {name}")
                if self.autocommit:
                    self._con.execute("ROLLBACK")
                raise
            self._con.execute(f"RELEASE {name}")
            if self.autocommit:
                self._con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self.autocommit and self._con.in_transaction:
                self._con.execute("ROLLBACK")
            if "full" in str(exc).lower():
                raise RegistryError(_("{path}: the disk is full; the registry is as it was").format(path=self.path)) from None
            raise self._damaged(exc) from None
        finally:
            self._savepoints -= 1
            cur.close()

    def _record(self, cur: sqlite3.Cursor, code: str) -> CodeRecord | None:
        row = cur.execute(
            f"SELECT {', '.join(_CODE_COLUMNS)} FROM codes WHERE code = ?", (code,)
        ).fetchone()
        return None if row is None else CodeRecord(*row)

    def _require(self, cur: sqlite3.Cursor, code: str, *, active: bool = True) -> CodeRecord:
        rec = self._record(cur, code)
        if rec is None:
            raise RegistryError(_("{path}: code {code} was never issued by this registry").format(path=self.path, code=code))
        if active and rec.status != "active":
            raise RegistryError(
                _("{path}: code {code} was retired on {date}; a retired code cannot change again").format(
                    path=self.path, code=code, date=rec.valid_to)
            )  # fmt: skip
        return rec

    def _compose(self, community_code: str, class_key: str, serial: int, subgrid: int) -> str:
        sch = self.scheme
        parts: dict[str, str | int] = {}
        div = dict(zip(DIVISION_ROLES, (2, 2, 2, 3, 3), strict=True))
        start = 0
        for role, width in div.items():
            parts[sch.field_for_role(role).name] = community_code[start : start + width]  # type: ignore[union-attr]
            start += width
        for f in sch.fields:
            if f.role == "grid_class":
                parts[f.name] = class_key
            elif f.role == "serial":
                parts[f.name] = serial
            elif f.role == "subgrid":
                parts[f.name] = subgrid
            elif f.role in ("object", "other"):
                if f.default is None:
                    raise CodeError(
                        _("scheme {scheme!r}: field {name!r} has no default value to issue").format(
                            scheme=sch.name, name=f.name)
                    )  # fmt: skip
                parts[f.name] = f.default
        code = sch.compose(parts)
        problems = validate_code(code, scheme=sch)
        if problems:
            raise CodeError(
                _("cannot issue a valid code for community {community}: {problems}").format(
                    community=community_code, problems=" ".join(problems))
            )  # fmt: skip
        return code

    def _issue(self, cur: sqlite3.Cursor, req: IssueRequest, date: str) -> str:
        community = str(req.community_code)
        if len(community) != 12 or not community.isdigit():
            raise CodeError(_("community code {code!r} is not a 12-digit NBS division code").format(code=community))
        class_key = self.scheme.class_digit(req.grid_class)
        row = cur.execute(
            "SELECT high_water FROM serials WHERE community_code = ? AND class_key = ?",
            (community, class_key),
        ).fetchone()
        high = 0 if row is None else int(row[0])
        serial_f = self.scheme.field_for_role("serial")
        assert serial_f is not None
        lowest = max(serial_f.minimum or 0, 1)
        serial = None
        if req.serial is not None:
            wanted = self._compose(community, class_key, int(req.serial), req.subgrid)
            if self._record(cur, wanted) is None:
                serial = int(req.serial)
        if serial is None:
            serial = max(high + 1, lowest)
        top = serial_f.maximum if serial_f.maximum is not None else 10**serial_f.width - 1
        if serial > top:
            raise CodeError(
                _("community {community} has used every serial of class {cls!r} (high-water mark {high}, at most "
                  "{top}); retired serials are never reused — a scheme with a wider serial field is needed").format(
                      community=community, cls=req.grid_class, high=high, top=top)
            )  # fmt: skip
        code = self._compose(community, class_key, serial, req.subgrid)
        if self._record(cur, code) is not None:  # defensive: high-water mark out of step
            raise RegistryError(_("{path}: code {code} already issued; registry inconsistent").format(
                path=self.path, code=code))  # fmt: skip
        geom = None if req.geometry is None else shapely.to_wkb(req.geometry)
        cur.execute(
            f"INSERT INTO codes ({', '.join(_CODE_COLUMNS)}) VALUES ({', '.join('?' * 13)})",
            (
                code,
                community,
                class_key,
                req.grid_class,
                serial,
                req.subgrid,
                "active",
                date,
                None,
                req.grid_id,
                geom,
                crs_string(req.crs),
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            ),
        )
        cur.execute(
            "INSERT INTO serials VALUES (?, ?, ?) ON CONFLICT (community_code, class_key) "
            "DO UPDATE SET high_water = max(high_water, excluded.high_water)",
            (community, class_key, serial),
        )
        return code

    def _retire(self, cur: sqlite3.Cursor, code: str, date: str) -> CodeRecord:
        rec = self._require(cur, code)
        if date < rec.valid_from:
            raise CodeError(
                _("code {code} cannot be retired on {date}, before it was issued ({issued})").format(
                    code=code, date=date, issued=rec.valid_from)
            )  # fmt: skip
        cur.execute(
            "UPDATE codes SET status = 'retired', valid_to = ? WHERE code = ?", (date, code)
        )
        return rec

    def _link(
        self, cur: sqlite3.Cursor, old: str, new: str, reason: str, date: str, note: str
    ) -> None:
        if reason not in REASONS:
            raise CodeError(_("lineage reason {reason!r} is not one of {known}").format(reason=reason, known=REASONS))
        cur.execute("INSERT INTO lineage VALUES (?, ?, ?, ?, ?)", (old, new, reason, date, note))

    # -- issuing --------------------------------------------------------------------
    def issue(
        self,
        community_code: str,
        *,
        grid_class: str = "community",
        date: dt.date | str | None = None,
        geometry: shapely.Geometry | None = None,
        crs: Any = None,
        grid_id: str | None = None,
    ) -> str:
        """Issue the next code of a community and class.

        Parameters
        ----------
        community_code : str
            12-digit NBS code of the community or village.
        grid_class : str
            ``community`` or ``dedicated``.
        date : date or str, optional
            ``valid_from`` (today when None).
        geometry, crs : optional
            Snapshot of the grid and its CRS.
        grid_id : str, optional
            The producing run's grid id.

        Returns
        -------
        str
            The new code.

        Raises
        ------
        CodeError
            When the community code is malformed or its serials are used up.
        """
        req = IssueRequest(community_code, grid_class, geometry, crs, grid_id)
        return self.issue_many([req], date=date)[0]

    def issue_many(
        self, requests: Iterable[IssueRequest], *, date: dt.date | str | None = None
    ) -> list[str]:
        """Issue codes for several grids in one transaction, in the order given.

        Returns
        -------
        list of str
            The codes, one per request.
        """
        day = as_date(date)
        reqs = list(requests)
        with self._write() as cur:
            return [self._issue(cur, r, day) for r in reqs]

    def adopt(
        self,
        code: str,
        *,
        date: dt.date | str | None = None,
        geometry: shapely.Geometry | None = None,
        crs: Any = None,
        grid_id: str | None = None,
    ) -> CodeRecord:
        """Record a code issued elsewhere (a hand-drawn layer's codes) as active.

        The high-water mark of its community and class rises to at least its serial, so
        codes issued afterwards get higher serials.

        Raises
        ------
        CodeError
            When the code is invalid under the registry's scheme.
        RegistryError
            When the code is already in the registry.
        """
        problems = validate_code(code, scheme=self.scheme)
        if problems:
            raise CodeError(_("cannot adopt {code!r}: {problems}").format(code=code, problems=" ".join(problems)))
        sch = self.scheme
        parts = sch.split(code)
        community = sch.division_code(code)
        cls_f = sch.field_for_role("grid_class")
        class_key = "" if cls_f is None else parts[cls_f.name]
        grid_class = "community" if cls_f is None else (cls_f.values or {})[class_key]
        serial = int(parts[sch.field_for_role("serial").name])  # type: ignore[union-attr]
        sub_f = sch.field_for_role("subgrid")
        subgrid = 0 if sub_f is None else int(parts[sub_f.name])
        day = as_date(date)
        with self._write() as cur:
            if self._record(cur, code) is not None:
                raise RegistryError(_("{path}: code {code} is already in the registry").format(path=self.path, code=code))
            cur.execute(
                f"INSERT INTO codes ({', '.join(_CODE_COLUMNS)}) VALUES ({', '.join('?' * 13)})",
                (
                    code,
                    community,
                    class_key,
                    grid_class,
                    serial,
                    subgrid,
                    "active",
                    day,
                    None,
                    grid_id,
                    None if geometry is None else shapely.to_wkb(geometry),
                    crs_string(crs),
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                ),
            )
            cur.execute(
                "INSERT INTO serials VALUES (?, ?, ?) ON CONFLICT (community_code, class_key) "
                "DO UPDATE SET high_water = max(high_water, excluded.high_water)",
                (community, class_key, serial),
            )
            return self._require(cur, code)

    # -- changes --------------------------------------------------------------------
    def retire(self, code: str, *, date: dt.date | str | None = None) -> CodeRecord:
        """Retire a code (the grid no longer exists). It is never issued again.

        Returns
        -------
        CodeRecord
            The record as it was before retirement.

        Raises
        ------
        RegistryError
            When the code is unknown or already retired.
        """
        day = as_date(date)
        with self._write() as cur:
            return self._retire(cur, code, day)

    def retire_many(
        self,
        codes: Sequence[str],
        *,
        links: Iterable[tuple[str, str, str]] = (),
        date: dt.date | str | None = None,
        note: str = "",
    ) -> None:
        """Retire several codes and record lineage links, in one transaction.

        Parameters
        ----------
        codes : sequence of str
            Active codes that end.
        links : iterable of (old_code, new_code, reason)
            Lineage to record; ``new_code`` must already be issued.
        date : date or str, optional
            ``valid_to`` of the retired codes and the date of the links.
        note : str
            Free text kept with the lineage.
        """
        day = as_date(date)
        with self._write() as cur:
            for code in codes:
                self._retire(cur, code, day)
            for old, new, reason in links:
                self._require(cur, new)
                self._link(cur, old, new, reason, day, note)

    def replace(
        self,
        old_codes: Sequence[str],
        new_grids: Sequence[IssueRequest],
        *,
        reason: str,
        date: dt.date | str | None = None,
        note: str = "",
    ) -> list[str]:
        """Retire ``old_codes``, issue codes for ``new_grids`` and link every old to every new.

        The general form of :meth:`split`, :meth:`merge` and :meth:`change_boundary`;
        all or nothing, in one transaction.

        Parameters
        ----------
        old_codes : sequence of str
            Active codes that end.
        new_grids : sequence of IssueRequest
            The grids that replace them.
        reason : str
            One of :data:`REASONS`.
        date : date or str, optional
            ``valid_to`` of the old and ``valid_from`` of the new (today when None).
        note : str
            Free text kept with the lineage.

        Returns
        -------
        list of str
            The new codes, in the order of ``new_grids``.
        """
        if reason not in REASONS:
            raise CodeError(_("lineage reason {reason!r} is not one of {known}").format(reason=reason, known=REASONS))
        if not old_codes or not new_grids:
            raise CodeError(_("a replacement needs at least one old code and one new grid"))
        day = as_date(date)
        with self._write() as cur:
            for old in old_codes:
                self._retire(cur, old, day)
            new = [self._issue(cur, r, day) for r in new_grids]
            for old in old_codes:
                for code in new:
                    self._link(cur, old, code, reason, day, note)
            return new

    def split(
        self,
        code: str,
        geometries: Sequence[shapely.Geometry | None],
        *,
        crs: Any = None,
        date: dt.date | str | None = None,
        note: str = "",
    ) -> list[str]:
        """Split a grid into parts: the code retires, each part gets a new code.

        Parts stay in the grid's community and class (R2). Serials are issued in the
        order given; order the parts west→east, north→south (see
        :func:`gridgeo.coding.serial_order`) for the documented serial order.

        Returns
        -------
        list of str
            The parts' codes.
        """
        rec = self.record(code)
        if len(geometries) < 2:
            raise CodeError(_("splitting {code} needs at least two parts, got {n}").format(code=code, n=len(geometries)))
        reqs = [
            IssueRequest(rec.community_code, rec.grid_class, g, crs if crs is not None else rec.crs)
            for g in geometries
        ]
        return self.replace([code], reqs, reason="split", date=date, note=note)

    def merge(
        self,
        codes: Sequence[str],
        geometry: shapely.Geometry | None = None,
        *,
        crs: Any = None,
        grid_class: str | None = None,
        date: dt.date | str | None = None,
        note: str = "",
    ) -> str:
        """Merge grids of one community into one: the codes retire, the union gets a new one.

        Raises
        ------
        CodeError
            When the grids belong to different communities (a grid never straddles two,
            R2) or to different classes and ``grid_class`` is not given.
        """
        recs = [self.record(c) for c in codes]
        if len(recs) < 2:
            raise CodeError(_("merging needs at least two codes, got {n}").format(n=len(recs)))
        communities = sorted({r.community_code for r in recs})
        if len(communities) > 1:
            raise CodeError(
                _("codes {codes} belong to communities {communities}; a grid never straddles two communities "
                  "(R2): merge within one community").format(codes=list(codes), communities=communities)
            )  # fmt: skip
        classes = sorted({r.grid_class for r in recs})
        if grid_class is None:
            if len(classes) > 1:
                raise CodeError(_("codes {codes} mix grid classes {classes}; give grid_class").format(
                    codes=list(codes), classes=classes))  # fmt: skip
            grid_class = classes[0]
        if geometry is None and all(r.geometry is not None for r in recs):
            geometry = shapely.union_all([r.geometry for r in recs])
            crs = recs[0].crs if crs is None else crs
        req = IssueRequest(communities[0], grid_class, geometry, crs)
        return self.replace(list(codes), [req], reason="merge", date=date, note=note)[0]

    def change_boundary(
        self,
        code: str,
        geometry: shapely.Geometry | None,
        *,
        crs: Any = None,
        date: dt.date | str | None = None,
        note: str = "",
    ) -> str:
        """Redraw a grid's boundary: the code retires and the new shape gets a new code."""
        rec = self.record(code)
        req = IssueRequest(
            rec.community_code, rec.grid_class, geometry, crs if crs is not None else rec.crs
        )
        return self.replace([code], [req], reason="boundary_change", date=date, note=note)[0]

    def recode_community(
        self,
        old_community: str,
        new_community: str,
        *,
        date: dt.date | str | None = None,
        note: str = "",
    ) -> dict[str, str]:
        """Re-code the active grids of a community whose statistical code changed.

        E.g. 即墨 became a district in 2017 (370282 → 370215), so ``370282xxxxxx`` grids
        become ``370215xxxxxx`` grids. Each active code retires and a new code is issued
        under the new community code, keeping class, sub-grid and the serial where that
        code was never issued (else the next serial), with lineage ``community_recoded``.
        Retired codes stay as they are.

        Returns
        -------
        dict of str to str
            Old code to new code.
        """
        for c in (old_community, new_community):
            if len(str(c)) != 12 or not str(c).isdigit():
                raise CodeError(_("community code {code!r} is not a 12-digit NBS division code").format(code=c))
        if old_community == new_community:
            raise CodeError(_("the old and new community codes are the same"))
        day = as_date(date)
        mapping: dict[str, str] = {}
        with self._write() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(_CODE_COLUMNS)} FROM codes WHERE community_code = ? "
                "AND status = 'active' ORDER BY class_key, serial, subgrid",
                (old_community,),
            ).fetchall()
            for row in rows:
                rec = CodeRecord(*row)
                self._retire(cur, rec.code, day)
                req = IssueRequest(
                    new_community,
                    rec.grid_class,
                    rec.geometry,
                    rec.crs,
                    rec.grid_id,
                    serial=rec.serial,
                    subgrid=rec.subgrid,
                )
                new = self._issue(cur, req, day)
                self._link(cur, rec.code, new, "community_recoded", day, note)
                mapping[rec.code] = new
        return mapping

    # -- reading --------------------------------------------------------------------
    def record(self, code: str) -> CodeRecord:
        """Return the registry record of ``code``.

        Raises
        ------
        RegistryError
            When the code was never issued here.
        """
        cur = self._con.cursor()
        try:
            return self._require(cur, code, active=False)
        finally:
            cur.close()

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        cur = self._con.cursor()
        try:
            return self._record(cur, code) is not None
        finally:
            cur.close()

    def high_water(self, community_code: str, grid_class: str = "community") -> int:
        """Return the highest serial ever issued for a community and class (0 if none)."""
        key = self.scheme.class_digit(grid_class)
        row = self._con.execute(
            "SELECT high_water FROM serials WHERE community_code = ? AND class_key = ?",
            (community_code, key),
        ).fetchone()
        return 0 if row is None else int(row[0])

    def codes(
        self, *, status: str | None = None, community_code: str | None = None
    ) -> pd.DataFrame:
        """Return registry rows as a DataFrame (without the geometry blob).

        Parameters
        ----------
        status : {'active', 'retired'}, optional
        community_code : str, optional
        """
        cols = [c for c in _CODE_COLUMNS if c != "geometry_wkb"]
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if community_code is not None:
            where.append("community_code = ?")
            args.append(community_code)
        sql = f"SELECT {', '.join(cols)} FROM codes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._con.execute(sql + " ORDER BY code", args).fetchall()
        return pd.DataFrame(rows, columns=cols)

    def lineage(self, code: str) -> pd.DataFrame:
        """Return every lineage link reachable from ``code``.

        The links go back to its ancestors and forward to its descendants.

        Returns
        -------
        pandas.DataFrame
            ``old_code, new_code, reason, date, note``, ordered by date then codes.
        """
        self.record(code)
        seen, todo, links = {code}, [code], set()
        while todo:
            c = todo.pop()
            for row in self._con.execute(
                "SELECT old_code, new_code, reason, date, note FROM lineage "
                "WHERE old_code = ? OR new_code = ?",
                (c, c),
            ):
                links.add(tuple(row))
                for other in row[:2]:
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
        df = pd.DataFrame(sorted(links), columns=["old_code", "new_code", "reason", "date", "note"])
        return df.sort_values(["date", "old_code", "new_code"], kind="stable").reset_index(
            drop=True
        )

    def history(self, code: str) -> pd.DataFrame:
        """Return the records of ``code`` and of every code linked to it by lineage.

        Returns
        -------
        pandas.DataFrame
            One row per code: ``code, status, valid_from, valid_to, community_code,
            grid_class, serial, replaced_by, replaces`` (the last two are lists of
            ``"CODE (reason)"``), ordered by ``valid_from`` then code.
        """
        links = self.lineage(code)
        codes = sorted({code, *links["old_code"], *links["new_code"]})
        rows = []
        for c in codes:
            rec = self.record(c)
            rows.append(
                {
                    "code": c,
                    "status": rec.status,
                    "valid_from": rec.valid_from,
                    "valid_to": rec.valid_to,
                    "community_code": rec.community_code,
                    "grid_class": rec.grid_class,
                    "serial": rec.serial,
                    "replaced_by": [
                        f"{n} ({r})"
                        for n, r in links.loc[
                            links["old_code"] == c, ["new_code", "reason"]
                        ].itertuples(index=False)
                    ],
                    "replaces": [
                        f"{o} ({r})"
                        for o, r in links.loc[
                            links["new_code"] == c, ["old_code", "reason"]
                        ].itertuples(index=False)
                    ],
                }
            )
        return (
            pd.DataFrame(rows)
            .sort_values(["valid_from", "code"], kind="stable")
            .reset_index(drop=True)
        )

    def snapshots(
        self, *, status: str | None = "active", crs: Any = None, codes: Iterable[str] | None = None
    ):
        """Return the geometry snapshots as a GeoDataFrame.

        Parameters
        ----------
        status : {'active', 'retired'} or None
            Which codes (None for all).
        codes : iterable of str, optional
            Only these codes (a re-partition needs a few among a city's).
        crs : str or CRS, optional
            Output CRS; default the CRS of the first snapshot. Snapshots stored in another
            CRS are transformed to it.

        Returns
        -------
        GeoDataFrame
            The rows of :meth:`codes` with their geometry.
        """
        import geopandas as gpd

        sql = f"SELECT {', '.join(_CODE_COLUMNS)} FROM codes"
        args: list[str] = []
        if status is not None:
            sql += " WHERE status = ?"
            args.append(status)
        wanted = set(codes) if codes is not None else None
        recs = [
            CodeRecord(*r)
            for r in self._con.execute(sql + " ORDER BY code", args)
            if wanted is None or r[0] in wanted
        ]
        recs = [r for r in recs if r.geometry_wkb is not None]
        crss = [r.crs for r in recs]
        target = crs if crs is not None else (crss[0] if crss else None)
        parts = []
        for c in dict.fromkeys(crss):
            sub = [r for r in recs if r.crs == c]
            g = gpd.GeoDataFrame(
                [{k: getattr(r, k) for k in _CODE_COLUMNS if k != "geometry_wkb"} for r in sub],
                geometry=[r.geometry for r in sub],
                crs=c,
            )
            parts.append(g.to_crs(target) if target is not None and c is not None else g)
        if not parts:
            cols = [k for k in _CODE_COLUMNS if k != "geometry_wkb"]
            return gpd.GeoDataFrame(columns=cols, geometry=[], crs=target)
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=target)
