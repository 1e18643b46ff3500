"""Validate and parse grid codes, and walk the division hierarchy they carry.

The division part (12 digits) follows the NBS statistical division code rules
(统计用区划代码编制规则), written once in :mod:`gridgeo.divisions` (validation applies the
same rules, so a district that validates is a district that can be coded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import pandas as pd

from gridgeo.coding.scheme import DIVISION_ROLES, CodeScheme, SchemeField, get_scheme
from gridgeo.divisions import (
    PROVINCES,
    digits_label,
    division_code_problems,
    load_divisions,
    part_problems,
    township_kind,
    village_kind,
)
from gridgeo.errors import CodeError
from gridgeo.i18n import N_, _

#: Hierarchy levels and the length of their code prefix.
LEVELS: dict[str, int] = {N_("province"): 2, N_("city"): 4, N_("county"): 6, N_("township"): 9, N_("community"): 12}

#: County-level codes newer than the shipped 2016 table (名称 only; their children are unknown).
_NEWER_COUNTIES: dict[str, str] = {"370215": "即墨区"}

SchemeLike = CodeScheme | str | PathLike[str] | None


def _where(f: SchemeField, span: slice) -> str:
    return digits_label(span, f.text)


def _extra(f: SchemeField, n: int) -> str | None:
    for lo, hi, meaning in f.extra_ranges:
        if lo <= n <= hi:
            return meaning
    return None


def _field_problems(f: SchemeField, value: str, span: slice) -> list[str]:
    """Sentences on what is wrong with one all-digit field value."""
    where = _where(f, span)
    n = int(value)
    out: list[str] = []
    if f.role in DIVISION_ROLES:
        out.extend(part_problems(f.role, value, where, f.extra_ranges))
    if f.values is not None and value not in f.values:
        allowed = _(", ").join(f"{k} ({_(v)})" for k, v in f.values.items())
        out.append(_("{where} is '{value}'; allowed: {allowed}; other values are reserved.").format(
            where=where, value=value, allowed=allowed))  # fmt: skip
    if (f.minimum is not None and n < f.minimum) or (f.maximum is not None and n > f.maximum):
        lo = "" if f.minimum is None else f"{f.minimum:0{f.width}d}"
        hi = "" if f.maximum is None else f"{f.maximum:0{f.width}d}"
        out.append(_("{where} '{value}' is out of range {lo}–{hi}.").format(where=where, value=value, lo=lo, hi=hi))
    return out


def validate_code(code: Any, *, scheme: SchemeLike = None) -> list[str]:
    """Explain what is wrong with a grid code.

    Every defect is reported, so that a planner fixes a list in one pass: the length,
    non-digit characters, an unknown province, a township or community/village part
    outside the NBS classes, a suffix field outside its allowed values or range.

    Parameters
    ----------
    code : str
        The code to check (a string: an integer would lose leading zeros).
    scheme : CodeScheme, str, path or None
        The scheme (default ``gridgeo-19``); see :func:`gridgeo.coding.get_scheme`.

    Returns
    -------
    list of str
        Human sentences, one per defect; empty when the code is valid.
    """
    sch = get_scheme(scheme)
    if not isinstance(code, str):
        return [
            _("The code must be a string of digits, not {type} ({code!r}); read code columns as text so "
              "leading zeros survive.").format(type=type(code).__name__, code=code)
        ]
    out: list[str] = []
    if code != code.strip():
        out.append(_("Code {code!r} has leading or trailing spaces.").format(code=code))
    code_c = code.strip()
    if len(code_c) != sch.length:
        layout = " + ".join(f"{_(f.text)} {f.width}" for f in sch.fields)
        out.append(
            _("Code {code!r} has {n} characters; a {scheme} code has {length} digits ({layout}).").format(
                code=code_c, n=len(code_c), scheme=sch.name, length=sch.length, layout=layout)
        )  # fmt: skip
    bad = [(i + 1, ch) for i, ch in enumerate(code_c) if not ("0" <= ch <= "9")]
    if bad:
        where = _(", ").join(f"{i} ({ch!r})" for i, ch in bad[:10])
        more = _(" and {n} more").format(n=len(bad) - 10) if len(bad) > 10 else ""
        out.append(_("Code {code!r} has non-digit characters at position {where}{more}.").format(
            code=code_c, where=where, more=more))  # fmt: skip
    if len(code_c) != sch.length:
        return out
    for f in sch.fields:
        span = sch.span(f.name)
        value = code_c[span]
        if all("0" <= ch <= "9" for ch in value):
            out.extend(_field_problems(f, value, span))
    return out


def validate_codes(codes: Iterable[Any], *, scheme: SchemeLike = None) -> pd.DataFrame:
    """Check many codes at once (a hand-drawn layer's ``grid_code`` column, R6).

    Parameters
    ----------
    codes : iterable of str
        The codes; a pandas Series keeps its index in the result.
    scheme : CodeScheme, str, path or None
        The scheme (default ``gridgeo-19``).

    Returns
    -------
    pandas.DataFrame
        One row per defect: ``index`` (the position or Series label), ``code``,
        ``problem``; codes repeated in the input are reported too. Empty when all are
        valid and unique.
    """
    sch = get_scheme(scheme)
    items = list(codes.items()) if isinstance(codes, pd.Series) else list(enumerate(codes))
    rows = []
    seen: dict[Any, Any] = {}
    for idx, code in items:
        for problem in validate_code(code, scheme=sch):
            rows.append({"index": idx, "code": code, "problem": problem})
        if isinstance(code, str):
            if code in seen:
                rows.append(
                    {
                        "index": idx,
                        "code": code,
                        "problem": _("Code {code} repeats (first at {first}).").format(code=code, first=seen[code]),
                    }
                )
            else:
                seen[code] = idx
    return pd.DataFrame(rows, columns=["index", "code", "problem"])


def validate_division_code(code: Any) -> list[str]:
    """Explain what is wrong with a 12-digit community/village division code.

    Parameters
    ----------
    code : str
        The NBS statistical division code of a community or administrative village.

    Returns
    -------
    list of str
        Human sentences, one per defect; empty when the code is valid.
    """
    return division_code_problems(code)


def check_code(code: Any, *, scheme: SchemeLike = None) -> str:
    """Return ``code`` when valid, else raise a :class:`CodeError` listing every defect.

    The raising variant of :func:`validate_code`.

    Raises
    ------
    CodeError
        When the code is not valid under the scheme.
    """
    problems = validate_code(code, scheme=scheme)
    if problems:
        raise CodeError(_("invalid grid code {code!r}: {problems}").format(code=code, problems=" ".join(problems)))
    return code


@dataclass(frozen=True)
class Division:
    """One level of a code's parentage.

    Parameters
    ----------
    level : str
        One of :data:`LEVELS` (``province`` ... ``community``).
    code : str
        Its 12-digit division code (zero-filled).
    name : str or None
        Its name from the shipped NBS table, or None when unknown.
    """

    level: str
    code: str
    name: str | None


@dataclass(frozen=True)
class ParsedCode:
    """The parts of a valid grid code and its named parents.

    Attributes
    ----------
    code : str
    scheme : str
        The scheme's name.
    parts : dict of str to str
        Field name to digits.
    division_code : str or None
        The 12-digit community/village code (None for schemes without it).
    township_kind, community_kind : str or None
        The NBS class of digits 7–9 and 10–12.
    grid_class : str or None
        ``community`` or ``dedicated`` (schemes with a class field).
    serial, subgrid : int or None
    parents : tuple of Division
        Province to community, with names where the table knows them.
    """

    code: str
    scheme: str
    parts: dict[str, str]
    division_code: str | None
    township_kind: str | None
    community_kind: str | None
    grid_class: str | None
    serial: int | None
    subgrid: int | None
    parents: tuple[Division, ...]

    def name_of(self, level: str) -> str | None:
        """Return the name of the parent at ``level`` (None when unknown)."""
        for d in self.parents:
            if d.level == level:
                return d.name
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return a flat dict (for printing or a DataFrame row)."""
        out: dict[str, Any] = {"code": self.code, "scheme": self.scheme}
        out.update(self.parts)
        out.update(
            division_code=self.division_code,
            township_kind=self.township_kind,
            community_kind=self.community_kind,
            grid_class=self.grid_class,
            serial=self.serial,
            subgrid=self.subgrid,
        )
        for d in self.parents:
            out[f"{d.level}_code"] = d.code
            out[f"{d.level}_name"] = d.name
        return out


def _names() -> Mapping[str, str]:
    return load_divisions()["name"]


def division_name_at(code12: str, level: str) -> str | None:
    """Return the name of the ``level`` parent of a 12-digit division code, or None.

    Provinces come from :data:`gridgeo.divisions.PROVINCES`, the rest from the shipped
    Qingdao table (2016 edition; 即墨区 370215 is known by name only).
    """
    n = LEVELS[level]
    if level == "province":
        return PROVINCES.get(code12[:2])
    key = code12[:n].ljust(12, "0")
    names = _names()
    if key in names.index:
        return str(names[key])
    if level == "county":
        return _NEWER_COUNTIES.get(code12[:6])
    return None


def parents_of(code12: str) -> tuple[Division, ...]:
    """Return the parents of a 12-digit division code, province to community, named."""
    return tuple(
        Division(level, code12[:n].ljust(12, "0"), division_name_at(code12, level))
        for level, n in LEVELS.items()
    )


def parse_code(code: str, *, scheme: SchemeLike = None) -> ParsedCode:
    """Cut a valid grid code into its parts and name its parents.

    Parameters
    ----------
    code : str
        A grid code.
    scheme : CodeScheme, str, path or None
        The scheme (default ``gridgeo-19``).

    Returns
    -------
    ParsedCode

    Raises
    ------
    CodeError
        When the code is invalid (the message lists every defect).
    """
    sch = get_scheme(scheme)
    check_code(code, scheme=sch)
    parts = sch.split(code)

    def role(r: str) -> str | None:
        f = sch.field_for_role(r)
        return None if f is None else parts[f.name]

    division = sch.division_code(code) if sch.has_division else None
    cls_f = sch.field_for_role("grid_class")
    township, village = role("township"), role("village")
    serial, subgrid = role("serial"), role("subgrid")
    village_f = sch.field_for_role("village")
    community_kind = None
    if village is not None:
        community_kind = village_kind(village) or _extra(village_f, int(village))  # type: ignore[arg-type]
    return ParsedCode(
        code=code,
        scheme=sch.name,
        parts=parts,
        division_code=division,
        township_kind=None if township is None else township_kind(township),
        community_kind=community_kind,
        grid_class=None if cls_f is None else (cls_f.values or {}).get(parts[cls_f.name]),
        serial=None if serial is None else int(serial),
        subgrid=None if subgrid is None else int(subgrid),
        parents=() if division is None else parents_of(division),
    )


# -- hierarchy ----------------------------------------------------------------------
def division_prefix(code: str) -> str:
    """Return the prefix that selects everything under a division.

    Parameters
    ----------
    code : str
        A 12-digit division code (``370203026000`` is a street, ``370203000000`` a
        district, ``370200000000`` the city) or an already short prefix of 2, 4, 6, 9 or
        12 digits.

    Returns
    -------
    str
        The significant digits (``370203026``, ``370203``, ``3702``).

    Raises
    ------
    CodeError
        When ``code`` is not such a code.
    """
    if not isinstance(code, str) or not code.isdigit() or len(code) not in LEVELS.values():
        raise CodeError(
            _("{code!r} is not a division code: give 12 digits (trailing zeros for a higher level) or a prefix "
              "of 2, 4, 6 or 9 digits").format(code=code)
        )  # fmt: skip
    if len(code) < 12:
        return code
    for n in (2, 4, 6, 9):
        if set(code[n:]) == {"0"}:
            return code[:n]
    return code


def division_level(code: str) -> str:
    """Return the level (``province`` ... ``community``) of a division code or prefix."""
    n = len(division_prefix(code))
    return next(level for level, k in LEVELS.items() if k == n)


def _division_series(grids: pd.DataFrame, scheme: CodeScheme, column: str) -> pd.Series:
    if column in grids.columns:
        sch = scheme
        if not sch.has_division:
            raise CodeError(_("scheme {scheme!r} holds no division code to select by").format(scheme=sch.name))
        codes = grids[column].astype(str)
        span = [sch.span(sch.field_for_role(r).name) for r in DIVISION_ROLES]  # type: ignore[union-attr]
        return codes.map(lambda c: "".join(c[s] for s in span) if len(c) == sch.length else "")
    if "community_code" in grids.columns:
        return grids["community_code"].astype(str)
    raise CodeError(_("the grid layer has neither a {column!r} nor a 'community_code' column").format(column=column))


def grids_in(
    grids: pd.DataFrame,
    division: str,
    *,
    scheme: SchemeLike = None,
    column: str = "grid_code",
) -> pd.DataFrame:
    """Return the grids of a street, district, city or community (a copy).

    Parameters
    ----------
    grids : GeoDataFrame
        A coded grid layer (``grid_code`` column; ``community_code`` is used when no code
        column exists).
    division : str
        The division: a 12-digit code or a prefix (see :func:`division_prefix`).
    scheme : CodeScheme, str, path or None
        The scheme of the codes (default ``gridgeo-19``).
    column : str
        The code column.

    Returns
    -------
    GeoDataFrame
        The selected rows, in input order.
    """
    prefix = division_prefix(division)
    div = _division_series(grids, get_scheme(scheme), column)
    return grids.loc[div.str.startswith(prefix)].copy()


def rollup_totals(
    grids: pd.DataFrame,
    *,
    scheme: SchemeLike = None,
    column: str = "grid_code",
) -> pd.DataFrame:
    """Roll household and resident totals up the division hierarchy.

    Parameters
    ----------
    grids : GeoDataFrame
        A coded grid layer with ``households`` and ``residents`` (``grid_class`` and
        ``community_name`` are used when present).
    scheme : CodeScheme, str, path or None
        The scheme of the codes (default ``gridgeo-19``).
    column : str
        The code column (``community_code`` is used when it is missing).

    Returns
    -------
    pandas.DataFrame
        One row per division present, ordered by code with each parent before its
        children: ``level, prefix, division_code, name, n_grids, n_community_grids,
        n_dedicated_grids, households, residents``. Names come from the NBS table, then
        from the layer's ``community_name`` for communities the table lacks.

    Raises
    ------
    CodeError
        When codes do not hold a division part.
    """
    sch = get_scheme(scheme)
    div = _division_series(grids, sch, column)
    missing = [c for c in ("households", "residents") if c not in grids.columns]
    if missing:
        raise CodeError(_("the grid layer lacks column(s) {missing} needed for totals").format(missing=missing))
    base = pd.DataFrame(
        {
            "division": div.to_numpy(),
            "households": pd.to_numeric(grids["households"]).to_numpy(),
            "residents": pd.to_numeric(grids["residents"]).to_numpy(),
            "cls": (
                grids["grid_class"].astype(str).to_numpy() if "grid_class" in grids.columns else ""
            ),
            "cname": (
                grids["community_name"].astype(str).to_numpy()
                if "community_name" in grids.columns
                else ""
            ),
        }
    )
    base = base.loc[base["division"].str.len() == 12].copy()
    rows = []
    for level, n in LEVELS.items():
        base["prefix"] = base["division"].str[:n]
        for prefix, g in base.groupby("prefix", sort=True):
            code12 = str(prefix).ljust(12, "0")
            name = division_name_at(code12, level)
            if name is None and level == "community":
                known = [c for c in g["cname"] if c and c != "nan"]
                name = known[0] if known else None
            rows.append(
                {
                    "level": level,
                    "prefix": prefix,
                    "division_code": code12,
                    "name": name,
                    "n_grids": len(g),
                    "n_community_grids": int((g["cls"] == "community").sum()),
                    "n_dedicated_grids": int((g["cls"] == "dedicated").sum()),
                    "households": g["households"].sum(),
                    "residents": g["residents"].sum(),
                }
            )
    out = pd.DataFrame(
        rows,
        columns=[
            "level",
            "prefix",
            "division_code",
            "name",
            "n_grids",
            "n_community_grids",
            "n_dedicated_grids",
            "households",
            "residents",
        ],
    )
    out["_depth"] = out["prefix"].str.len()
    out = out.sort_values(["division_code", "_depth"], kind="stable").drop(columns="_depth")
    return out.reset_index(drop=True)
