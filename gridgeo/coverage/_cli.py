"""The ``gridgeo coverage`` command: check, audit, merge.

The main CLI calls :func:`register` with its subparsers. Each action returns the exit status
(1 when a blocking finding exists) and raises :class:`gridgeo.errors.GridgeoError` on bad
input (the main CLI prints it on one line and exits 2). Outputs are written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.options import add_band_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``coverage`` subcommand and its actions.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """
    cov = subparsers.add_parser(
        "coverage",
        help=_("prove a grid layer covers the district (R5), audit a hand-drawn one (R6), merge departments' grids (R7)"),
        description="Coverage proof, audit and multi-department merge of grid layers.",
    )
    actions = cov.add_subparsers(dest="coverage_action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "grids",
            metavar="GRIDS_FILE",
            help=_("grid layer (GeoPackage, GeoJSON, Shapefile...)[:layer]"),
        )
        p.add_argument(
            "config", metavar="CONFIG", help=_("TOML config naming the district's input layers")
        )
        p.add_argument(
            "--layer",
            default=None,
            help=_("layer name inside GRIDS_FILE (default: 'grids' when present)"),
        )
        p.add_argument(
            "--out", "-o", required=True, help=_("output folder (created; files in it are replaced)")
        )
        add_band_arguments(p)
        p.add_argument(
            "--tolerance", type=float, default=1.0, help=_("gap/overlap tolerance in m² (default 1)")
        )

    p = actions.add_parser(
        "check",
        help=_("the coverage proof: findings layer + coverage.md; exit 1 on a blocking finding"),
    )
    common(p)
    p.add_argument("--codes", action="store_true", help=_("also check the grid_code column (R8)"))
    p.set_defaults(func=cmd_check)

    p = actions.add_parser(
        "audit", help=_("audit a hand-drawn layer and write a corrected layer and a diff")
    )
    common(p)
    p.add_argument(
        "--registry", default=None, help=_("code registry (SQLite) to issue new codes from")
    )
    p.add_argument(
        "--no-rebalance", action="store_true", help=_("do not split/merge grids out of the band")
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_audit)

    p = actions.add_parser(
        "merge", help=_("crosswalk departmental grids onto the comprehensive grids (R7)")
    )
    p.add_argument("grids", metavar="GRIDS_FILE", help=_("comprehensive grid layer[:layer]"))
    p.add_argument(
        "departments",
        nargs="+",
        metavar="NAME=FILE[:layer]",
        help=_("departmental layers, e.g. police=police.gpkg"),
    )
    p.add_argument(
        "--config", default=None, help=_("TOML config of the district (for household shares)")
    )
    p.add_argument("--id-column", default="grid_id", help=_("id column of the departmental grids"))
    p.add_argument("--out", "-o", required=True, help=_("output folder"))
    p.set_defaults(func=cmd_merge)


def _band(args):
    from gridgeo.options import Band

    return Band.of(args.lower, args.upper, args.measure)


def _split(value: str, layer: str | None = None):
    """``file[:layer]`` -> (Path, layer)."""
    path = Path(value)
    if not path.exists() and ":" in value:
        head, _sep, tail = value.rpartition(":")
        if Path(head).exists():
            return Path(head), layer or tail
    return path, layer


def _read_grids(value: str, layer: str | None):
    import pyogrio

    from gridgeo.io import LayerSource, read_layer

    path, layer = _split(value, layer)
    if layer is None and path.exists() and path.suffix.lower() == ".gpkg":
        try:
            names = [n for n, _ in pyogrio.list_layers(path)]
        except Exception:  # noqa: BLE001 - read_layer reports an unreadable file
            names = []
        layer = "grids" if "grids" in names else None
    gdf = read_layer(LayerSource(path, layer), "grids")
    if gdf.crs is None:
        raise InputError(
            [Problem(str(path), None, "the grid layer has no CRS: set it (e.g. EPSG:4490)")]
        )
    return gdf


def _district(config: str):
    from gridgeo.io import read_config
    from gridgeo.validate import load_district

    return load_district(read_config(config))


def cmd_check(args: argparse.Namespace) -> int:
    """Run the proof; 1 when a blocking finding exists."""
    from gridgeo.coverage import check_coverage
    from gridgeo.io import write_layers, write_text

    band = _band(args)
    grids = _read_grids(args.grids, args.layer)
    district = _district(args.config)
    report = check_coverage(grids, district, band=band, tolerance_m2=args.tolerance,
                            codes=True if args.codes else None)  # fmt: skip
    out = Path(args.out)
    write_layers({"findings": report.findings}, out / "findings.gpkg")
    write_text(report.to_markdown(), out / "coverage.md")
    _verdict(report)
    print(f"wrote {out / 'findings.gpkg'} and {out / 'coverage.md'}")
    return 0 if report.ok else 1


def _verdict(report) -> None:
    n_block = len(report.blocking)
    print(report.verdict())
    for r in report.blocking.head(10).itertuples(index=False):
        print(f"  {r.rule} {r.grid_id or r.related_id}: {r.message}")
    if n_block > 10:
        print(f"  ... and {n_block - 10} more (see the findings layer)")


def cmd_audit(args: argparse.Namespace) -> int:
    """Audit, write the corrected layer and the diff; 1 when the layer as given has a blocking finding."""
    from gridgeo.coding import CodeRegistry
    from gridgeo.coverage import audit_grids
    from gridgeo.io import write_layers, write_table, write_text

    band = _band(args)
    grids = _read_grids(args.grids, args.layer)
    district = _district(args.config)
    kw = dict(band=band, tolerance_m2=args.tolerance,
              rebalance=not args.no_rebalance, seed=args.seed)  # fmt: skip
    if args.registry:
        with CodeRegistry(args.registry) as reg:
            result = audit_grids(grids, district, registry=reg, **kw)
    else:
        result = audit_grids(grids, district, **kw)
    out = Path(args.out)
    write_layers({"grids": result.corrected, "findings": result.report.findings, "diff": result.diff},
                 out / "audit.gpkg")  # fmt: skip
    write_table(result.diff.drop(columns="geometry"), out / "audit_diff.csv")
    write_text(result.to_markdown(), out / "audit.md")
    _verdict(result.report)
    print(f"rectification: {len(result.diff)} grid(s) changed; corrected layer "
          f"{'PROVED' if result.after.ok else 'still REFUTED'} ({len(result.after.blocking)} blocking)")  # fmt: skip
    print(
        f"wrote {out / 'audit.gpkg'} (grids, findings, diff), {out / 'audit_diff.csv'}, {out / 'audit.md'}"
    )
    return 0 if result.report.ok else 1


def cmd_merge(args: argparse.Namespace) -> int:
    """Write the crosswalk of departmental grids onto the comprehensive grids."""
    from gridgeo.coverage import crosswalk
    from gridgeo.io import LayerSource, read_layer, write_layers, write_table, write_text

    grids = _read_grids(args.grids, None)
    deps = {}
    problems = []
    for item in args.departments:
        name, sep, value = item.partition("=")
        if not sep:
            name, value = Path(item.split(":")[0]).stem, item
        path, layer = _split(value)
        try:
            deps[name] = read_layer(LayerSource(path, layer), "grids")
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    district = _district(args.config) if args.config else None
    cw = crosswalk(deps, grids, district=district, id_column=args.id_column)
    out = Path(args.out)
    write_table(cw.table, out / "crosswalk.csv")
    write_table(cw.departments, out / "departments.csv")
    write_layers({"findings": cw.findings}, out / "merge_findings.gpkg")
    write_text(cw.to_markdown(), out / "merge.md")
    n_cut = int((cw.departments["n_cut"] > 0).sum())
    print(f"crosswalk: {len(cw.departments)} departmental grid(s) of {len(deps)} department(s) onto "
          f"{len(grids)} comprehensive grids; {n_cut} cut comprehensive grids")  # fmt: skip
    print(f"wrote crosswalk.csv, departments.csv, merge_findings.gpkg, merge.md to {out}")
    return 0
