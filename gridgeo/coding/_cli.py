"""The ``gridgeo codes`` command: validate, parse, assign, history, recode, schemes.

The main CLI calls :func:`register` with its subparsers; each action's handler returns
the exit status and raises :class:`gridgeo.errors.GridgeoError` on failure (the main CLI
prints it on one line and exits 2).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from gridgeo.coding.assign import DEFAULT_BAND_M, assign_codes
from gridgeo.coding.codes import parse_code, validate_code
from gridgeo.coding.registry import CodeRegistry
from gridgeo.coding.scheme import SCHEMES, get_scheme
from gridgeo.errors import InputError, Problem, RegistryError
from gridgeo.i18n import N_, _


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``codes`` subcommand and its actions to an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """
    codes = subparsers.add_parser(
        "codes",
        help=_("grid codes (R8): validate, parse, assign, history"),
        description="Grid codes (R8): validate, parse, assign with a registry, show history.",
    )
    actions = codes.add_subparsers(dest="codes_action", metavar="ACTION", required=True)

    def scheme_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scheme",
            default=None,
            help=f"preset ({', '.join(SCHEMES)}) or a .toml/.json scheme file; default gridgeo-19",
        )

    p = actions.add_parser("validate", help=_("say what is wrong with codes (exit 1 if any)"))
    p.add_argument("codes", nargs="+", metavar="CODE")
    scheme_opt(p)
    p.set_defaults(func=cmd_validate)

    p = actions.add_parser("parse", help=_("show a code's parts and named parents"))
    p.add_argument("code", metavar="CODE")
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    scheme_opt(p)
    p.set_defaults(func=cmd_parse)

    p = actions.add_parser("assign", help=_("give a grid layer its codes"))
    p.add_argument("grids", metavar="GRIDS_FILE", help=_("grid layer (GeoPackage, GeoJSON, ...)"))
    p.add_argument("--layer", default=None, help=_("layer name inside GRIDS_FILE"))
    p.add_argument("--registry", default=None, help=_("registry SQLite file (created if missing)"))
    p.add_argument("--out", required=True, help=_("output file (written atomically)"))
    p.add_argument("--date", default=None, help=_("valid-from date YYYY-MM-DD (default today)"))
    p.add_argument("--band-m", type=float, default=DEFAULT_BAND_M, help=_("row height, metres"))
    p.add_argument(
        "--retire-missing",
        action="store_true",
        help=_("retire active codes of the layer's communities that no grid keeps"),
    )
    scheme_opt(p)
    p.set_defaults(func=cmd_assign)

    p = actions.add_parser("history", help=_("show a code's record, lineage and approved edits"))
    p.add_argument("code", metavar="CODE")
    p.add_argument("--registry", required=True, help=_("registry SQLite file"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.set_defaults(func=cmd_history)

    p = actions.add_parser("recode", help=_("re-code the grids of a community whose code changed"))
    p.add_argument("old", metavar="OLD_COMMUNITY")
    p.add_argument("new", metavar="NEW_COMMUNITY")
    p.add_argument("--registry", required=True, help=_("registry SQLite file"))
    p.add_argument("--date", default=None, help=_("date YYYY-MM-DD (default today)"))
    p.set_defaults(func=cmd_recode)

    p = actions.add_parser("schemes", help=_("list the shipped code schemes"))
    p.set_defaults(func=cmd_schemes)


def cmd_validate(args: argparse.Namespace) -> int:
    """Print what is wrong with each code; 1 when any is invalid, else 0."""
    scheme = get_scheme(args.scheme)
    status = 0
    for code in args.codes:
        problems = validate_code(code, scheme=scheme)
        if problems:
            status = 1
            print(_("{code}: invalid").format(code=code))
            for line in problems:
                print(f"  - {line}")
        else:
            print(_("{code}: valid ({scheme})").format(code=code, scheme=scheme.name))
    return status


def cmd_parse(args: argparse.Namespace) -> int:
    """Print the parts of a code and its named parents."""
    parsed = parse_code(args.code, scheme=args.scheme)
    if args.json:
        print(json.dumps(parsed.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(_label(_("code")) + f"{parsed.code}  ({parsed.scheme})")
    for name, value in parsed.parts.items():
        print(f"  {name:<10}{value}")
    if parsed.grid_class is not None:
        print(_label(_("grid class")) + _(parsed.grid_class))
    if parsed.township_kind is not None:
        print(_label(_level("township")) + _(parsed.township_kind))
    if parsed.community_kind is not None:
        print(_label(_level("community")) + _(parsed.community_kind))
    for d in parsed.parents:
        print(_label(_level(d.level)) + f"{d.code}  " + (d.name or _("(not in the shipped table)")))
    return 0


#: How a level of the division hierarchy is named in Chinese (the English names are the levels').
_LEVEL_NAMES: dict[str, str] = {
    "province": N_("level: province"), "city": N_("level: city"), "county": N_("level: county"),
    "township": N_("level: township"), "community": N_("level: community"),
}  # fmt: skip


def _level(level: str) -> str:
    """The name of a level: its catalogue name, or the level itself in English."""
    msg = _LEVEL_NAMES.get(level, level)
    name = _(msg)
    return level if name == msg else name


def _label(text: str) -> str:
    """A row label padded to 12 columns (a Chinese character counts as two, as a terminal shows it)."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)
    return text + " " * max(1, 12 - len(text) - wide)


def write_atomic(gdf, path: str | os.PathLike[str], *, layer: str | None = None) -> None:
    """Write a GeoDataFrame so that ``path`` is either the old file or the complete new one.

    Through :func:`gridgeo.io.write_layer`: a temporary file beside ``path`` moved over it,
    stale temporary files of a killed run removed, a full disk a clear error.
    """
    from gridgeo.io import write_layer

    write_layer(gdf, path, layer=layer)


def cmd_assign(args: argparse.Namespace) -> int:
    """Read a grid layer, assign codes (with a registry if given), write it atomically."""
    import geopandas as gpd

    from gridgeo.io import check_not_input

    src = Path(args.grids)
    if not src.exists():
        raise InputError([Problem(str(src), None, _("file not found"))])
    check_not_input([args.out, args.registry], [src])
    try:
        grids = gpd.read_file(src, layer=args.layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises its own types; report them as input problems
        raise InputError([Problem(str(src), None, _("cannot read grid layer: {why}").format(why=exc))]) from exc
    for col in ("community_code", "grid_code", "grid_id"):
        if col in grids.columns:
            grids[col] = grids[col].astype("string").astype(object).where(grids[col].notna(), None)
    if args.registry:
        with CodeRegistry(args.registry, scheme=args.scheme) as reg:
            coded = assign_codes(
                grids,
                registry=reg,
                date=args.date,
                band_m=args.band_m,
                retire_missing=args.retire_missing,
            )
    else:
        if args.retire_missing:
            raise RegistryError(_("--retire-missing needs --registry"))
        coded = assign_codes(grids, scheme=args.scheme, date=args.date, band_m=args.band_m)
    kwargs = {"layer": args.layer} if args.layer else {}
    write_atomic(coded, args.out, **kwargs)
    print(_("{n} grids coded -> {out}").format(n=len(coded), out=args.out))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print a code's record and every code linked to it."""
    # Read-only: a history never creates tables, even in a file that is not a registry.
    with CodeRegistry(args.registry, read_only=True) as reg:
        hist = reg.history(args.code)
    if args.json:
        print(hist.to_json(orient="records", force_ascii=False, indent=2))
        return 0
    for row in hist.itertuples(index=False):
        mark = "*" if row.code == args.code else " "
        until = row.valid_to or ""
        print(
            f"{mark} {row.code}  {row.status:<7} {row.valid_from} – {until:<10}  {row.grid_class}"
        )
        for r in row.replaces:
            print("      " + _("replaces {code}").format(code=r))
        for r in row.replaced_by:
            print("      " + _("replaced by {code}").format(code=r))
    from gridgeo.coding.changelog import read_changes

    for ch in read_changes(args.registry, code=args.code).itertuples(index=False):
        print(f"  approved #{ch.approval} {ch.at} by {ch.by}: {ch.op} {ch.households} households "
              f"({len(ch.units.split())} unit(s)) {ch.from_grid_id} [{ch.from_code or '-'}] -> "
              f"{ch.to_grid_id} [{ch.to_code or '-'}]")
    return 0


def cmd_recode(args: argparse.Namespace) -> int:
    """Re-code a community's active grids; print old -> new."""
    if not Path(args.registry).exists():
        raise RegistryError(_("{path}: registry file not found").format(path=args.registry))
    with CodeRegistry(args.registry) as reg:
        mapping = reg.recode_community(args.old, args.new, date=args.date)
    for old, new in mapping.items():
        print(f"{old} -> {new}")
    print(_("{n} code(s) re-coded").format(n=len(mapping)))
    return 0


def cmd_schemes(args: argparse.Namespace) -> int:
    """List the shipped schemes and their layout."""
    for name, sch in SCHEMES.items():
        layout = " + ".join(f"{f.name} {f.width}" for f in sch.fields)
        print(_("{name} ({n} digits): {layout}").format(name=name, n=sch.length, layout=layout))
        print("    " + _(sch.title))  # a preset's title is in the catalogue; a file's is printed as written
    return 0
