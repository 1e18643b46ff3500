"""The ``gridgeo map``, ``gridgeo staff`` and ``gridgeo boards`` commands.

The main CLI imports this module and calls :func:`register`; handlers return the exit status
and raise :class:`gridgeo.errors.GridgeoError` on failure (printed on one line, exit 2).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export commands to an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """
    p = subparsers.add_parser("map", help=_("interactive HTML map of a grid layer (opens offline)"))
    _grids_args(p)
    p.add_argument("--out", "-o", required=True, help=_("HTML file to write"))
    p.add_argument(
        "--staff", default=None, help=_("staff CSV (gridgeo staff) to name workers in tooltips")
    )
    p.add_argument("--findings-layer", default="findings",
                   help=_("layer of GRIDS_FILE with coverage findings, if present (default findings)"))  # fmt: skip
    p.add_argument("--basemap", default=None,
                   help="online tiles (needs network): osm, tianditu (TIANDITU_KEY), gaode, tencent, "
                        "or SYSTEM:URL with SYSTEM wgs84, cgcs2000 or gcj02; grids are shifted to "
                        "GCJ-02 on gaode/tencent tiles. Default: the offline map of the inputs' streets")  # fmt: skip
    p.set_defaults(func=cmd_map)

    p = subparsers.add_parser("staff", help=_("assign a roster's grid workers to the grids (S1)"))
    _grids_args(p)
    p.add_argument(
        "--roster", required=True, help=_("roster CSV: worker_id, name, phone, kind[, lon, lat, area]")
    )
    p.add_argument("--out", "-o", required=True, help=_("assignments CSV to write"))
    p.add_argument("--workers-out", default=None, help=_("also write one row per worker here (CSV)"))
    _staff_args(p)
    p.set_defaults(func=cmd_staff)

    p = subparsers.add_parser(
        "boards", help=_("notice boards and contact cards of a street's grids (S2)")
    )
    _grids_args(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--roster", default=None,
                     help=_("roster CSV: staff are assigned first; an optional column qr_url (二维码链接) "
                            "prints a QR code on the boards, {grid_code} filled in"))  # fmt: skip
    who.add_argument("--staff", default=None, help=_("staff CSV written by gridgeo staff"))
    p.add_argument(
        "--street", default=None, help=_("9-digit street/town code (default: every street)")
    )
    p.add_argument("--out", "-o", required=True, help=_("folder for the PDFs and PNGs"))
    p.add_argument("--paper", action="append", choices=("A4", "A3"), default=None,
                   help=_("paper size (repeatable; default A4)"))  # fmt: skip
    p.add_argument(
        "--supervision-phone", default="12345", help=_("supervision phone (监督电话), default 12345")
    )
    p.add_argument("--no-png", action="store_true", help=_("PDFs only"))
    p.add_argument("--dpi", type=int, default=100, help=_("PNG resolution (default 100)"))
    _staff_args(p)
    p.set_defaults(func=cmd_boards)


def _grids_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "grids", metavar="GRIDS_FILE", help=_("grid layer with grid_code (gridgeo run's grids.gpkg)")
    )
    p.add_argument(
        "--layer", default=None, help=_("layer of GRIDS_FILE (default grids, else the first)")
    )
    p.add_argument("--inputs", default=None, metavar="CONFIG",
                   help=_("input config (TOML) of the run: draws buildings, dedicated units, absorbed land"))  # fmt: skip


def _staff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cap",
        type=int,
        default=1000,
        help=_("households one full-time worker may serve (default 1000)"),
    )
    p.add_argument(
        "--max-grids", type=int, default=3, help=_("grids one full-time worker may serve (default 3)")
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        help=_("solver deterministic seconds per phase (default 10)"),
    )
    p.add_argument("--seed", type=int, default=0, help=_("solver seed (default 0)"))


def read_grids(path: str, layer: str | None = None):
    """Read a grid layer with its key columns as text.

    Raises
    ------
    InputError
        When the file or layer cannot be read.
    """
    import pyogrio

    src = Path(path)
    if not src.exists():
        raise InputError([Problem(str(src), None, _("file not found"))])
    try:
        if layer is None:
            names = [n for n, _ in pyogrio.list_layers(src)]
            layer = "grids" if "grids" in names else names[0]
        grids = pyogrio.read_dataframe(src, layer=layer)
    except Exception as exc:  # pyogrio raises its own types; report them as input problems
        text = str(exc).split("; It might help to specify the correct driver")[0]  # GDAL's advice
        raise InputError([Problem(str(src), layer, _("cannot read grid layer: {why}").format(why=text))]) from None
    for col in ("grid_code", "grid_id", "community_code"):
        if col in grids.columns:
            grids[col] = grids[col].astype("string").astype(object).where(grids[col].notna(), None)
    return grids


def _findings(path: str, layer: str):
    import pyogrio

    try:
        names = [n for n, _ in pyogrio.list_layers(path)]
    except Exception:  # not a multi-layer file
        return None
    # One layer, or one per geometry type (gridgeo.io.by_geometry_type: findings_points, ...).
    parts = [n for n in names if n == layer or n in {f"{layer}_{k}" for k in ("points", "lines", "polygons", "other")}]
    if not parts:
        return None
    try:
        frames = [pyogrio.read_dataframe(path, layer=n) for n in parts]
    except Exception as exc:  # pyogrio raises its own types; report them as input problems
        raise InputError([Problem(str(path), layer, _("cannot read the findings layer: {why}").format(why=exc))]) from None
    if len(frames) == 1:
        return frames[0]
    import geopandas as gpd
    import pandas as pd

    return gpd.GeoDataFrame(pd.concat([f.to_crs(frames[0].crs) for f in frames], ignore_index=True),
                            geometry=frames[0].geometry.name, crs=frames[0].crs)  # fmt: skip


def _district(config: str | None):
    if not config:
        return None
    from gridgeo.io import read_config
    from gridgeo.validate import load_district

    return load_district(read_config(config))


def _read_staff(path: str):
    import pandas as pd

    if not Path(path).exists():
        raise InputError([Problem(path, None, _("staff file not found"))])
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise InputError([Problem(path, None, _("cannot be read as a UTF-8 CSV staff file: {why}").format(why=exc))]) from None
    missing = [c for c in ("grid_code", "name", "phone", "role") if c not in table.columns]
    if missing:
        raise InputError(
            [
                Problem(path, None, _("missing column {column!r}: not a gridgeo staff file").format(column=c))
                for c in missing
            ]
        )
    return table


def _check_options(args: argparse.Namespace) -> None:
    """Refuse option values no staff plan or board can use (exit 2, one line each)."""
    import math

    problems = []
    for name, low, high in (("cap", 1, 10**6), ("max_grids", 1, 1000), ("dpi", 10, 600)):
        value = getattr(args, name, None)
        if value is not None and not low <= value <= high:
            problems.append(Problem(f"--{name.replace('_', '-')}", None, _("{value} is not in [{low}, {high}]").format(
                value=value, low=low, high=high)))  # fmt: skip
    limit = getattr(args, "time_limit", None)
    if limit is not None and not (math.isfinite(limit) and 0 < limit <= 86_400):
        problems.append(Problem("--time-limit", None, _("{value} is not a number of seconds in (0, 86400]").format(value=limit)))
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < 2**31:
        problems.append(Problem("--seed", None, _("{value} is not in [0, 2**31)").format(value=seed)))
    if problems:
        raise InputError(problems)


def _plan(grids, args):
    from gridgeo.export.roster import read_roster
    from gridgeo.export.staff import assign_staff

    return assign_staff(
        grids, read_roster(args.roster), cap=args.cap, max_grids=args.max_grids,
        time_limit=args.time_limit, seed=args.seed,
    )  # fmt: skip


def _inputs_of(args: argparse.Namespace) -> list[str]:
    """Every input file a command reads: the grids, staff, roster, config and its layers."""
    files = [args.grids]
    for name in ("staff", "roster", "inputs"):
        value = getattr(args, name, None)
        if value:
            files.append(value)
    if getattr(args, "inputs", None) and Path(args.inputs).is_file():
        from gridgeo.io import read_config

        try:
            files += [str(src.path) for src in read_config(args.inputs).values()]
        except InputError:  # reported when the district is read
            pass
    return files


def cmd_map(args: argparse.Namespace) -> int:
    """Write the interactive map."""
    from gridgeo.export.maps import write_map
    from gridgeo.io import check_not_input

    check_not_input([args.out], _inputs_of(args))
    grids = read_grids(args.grids, args.layer)
    staff = _read_staff(args.staff) if args.staff else None
    path = write_map(grids, args.out, district=_district(args.inputs), findings=_findings(args.grids, args.findings_layer),
                     staff=staff, basemap=args.basemap)  # fmt: skip
    print(_("map of {n} grids -> {path}").format(n=len(grids), path=path))
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    """Assign staff; write the assignments (and workers) CSV."""
    from gridgeo.io import check_not_input, write_table

    _check_options(args)
    check_not_input([args.out, args.workers_out], _inputs_of(args))
    grids = read_grids(args.grids, args.layer)
    plan = _plan(grids, args)
    write_table(plan.assignments, args.out)
    if args.workers_out:
        write_table(plan.workers, args.workers_out)
    r = plan.report
    print(_("staff: {workers} full-time workers on {grids} grids ({shared} serve several grids, {spare} second "
            "workers); {clusters} clusters, {cadre} with a cadre instructor; households per full-time worker "
            "{low}-{high}; solver {status} in {seconds} s -> {out}").format(
        workers=r["full_time_workers"], grids=len(grids), shared=r["shared_grids"], spare=r["spare_full_time"],
        clusters=r["clusters"], cadre=r["clusters_with_cadre"], low=r["households_per_full_time_min"],
        high=r["households_per_full_time_max"], status=r["status"], seconds=r["wall_time_s"], out=args.out))  # fmt: skip
    return 0


def cmd_boards(args: argparse.Namespace) -> int:
    """Print the boards of a street."""
    from gridgeo.export.boards import BoardTextWarning, write_boards

    # No input check of --out: boards write only boards_*.pdf and *_board/_card.png in it, and
    # the grids, staff and roster of a run usually sit in that folder.
    _check_options(args)
    grids = read_grids(args.grids, args.layer)
    staff = _read_staff(args.staff) if args.staff else _plan(grids, args)
    district = _district(args.inputs)
    buildings = district.buildings if district is not None else None
    dedicated = None
    if district is not None and len(district.landuse):
        dedicated = district.landuse[district.landuse["category"] == "dedicated"]
    roads = district.roads if district is not None else None
    rivers = district.rivers if district is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoardTextWarning)
        files = write_boards(
            grids, staff, args.out, buildings=buildings, dedicated=dedicated, roads=roads, rivers=rivers,
            street=args.street,
            papers=tuple(args.paper or ["A4"]), supervision_phone=args.supervision_phone,
            png=not args.no_png, dpi=args.dpi,
        )  # fmt: skip
    pdfs = [f for f in files if f.suffix == ".pdf"]
    print(_("boards: {pdfs} PDF(s), {pngs} PNG(s) -> {out}").format(pdfs=len(pdfs), pngs=len(files) - len(pdfs), out=args.out))
    for f in pdfs:
        print(f"  {f}")
    for w in caught:
        if issubclass(w.category, BoardTextWarning):
            print(_("boards: warning: {message}").format(message=w.message), file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return 0
