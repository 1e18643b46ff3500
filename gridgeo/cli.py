"""The ``gridgeo`` command line.

Every command reads planner files, writes its outputs atomically into the folder it is given
and prints what it did. A :class:`~gridgeo.errors.GridgeoError` is printed as a plain message
(each problem on its own line, naming the file and feature) and the command exits 2; no
traceback reaches the user. Exit 1 means the job ran but found a blocking problem (e.g. the
coverage proof failed).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gridgeo import __version__
from gridgeo.errors import GridgeoError, InputError, Problem

SAMPLE_CONFIG = """\
# gridgeo input config for the embedded sample (see README, "Input schema").
# Paths are relative to this file. Column mappings name the columns of your files, e.g.
#   columns = { households = "户数", residents = "人口", community_code = "社区代码" }

[layers.communities]
path = "qingdao_sample.gpkg"
layer = "communities"

[layers.buildings]
path = "qingdao_sample.gpkg"
layer = "buildings"

[layers.landuse]
path = "qingdao_sample.gpkg"
layer = "landuse"

[layers.roads]
path = "qingdao_sample.gpkg"
layer = "roads"

[layers.rivers]
path = "qingdao_sample.gpkg"
layer = "rivers"
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gridgeo`` command."""
    parser = argparse.ArgumentParser(
        prog="gridgeo",
        description="Service grids for grid-based community management (网格化服务管理): "
        "validate inputs, partition communities into grids of 300-500 households, prove "
        "coverage, assign 19-digit codes, and draw maps.",
    )
    parser.add_argument("--version", action="version", version=f"gridgeo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help="the main job: validate, partition, prove coverage, code, map")
    _inputs(p)
    p.add_argument(
        "--out", "-o", required=True, help="output folder (created; files in it are replaced)"
    )
    p.add_argument(
        "--lower",
        type=int,
        default=None,
        help="lower bound of a grid (default 300 households / 800 residents)",
    )
    p.add_argument(
        "--upper",
        type=int,
        default=None,
        help="upper bound of a grid (default 500 households / 1200 residents)",
    )
    p.add_argument("--measure", choices=("households", "residents"), default="households",
                   help="what the band counts (default households)")  # fmt: skip
    p.add_argument(
        "--time-limit",
        type=float,
        default=0.5,
        help="CP-SAT deterministic seconds per community (default 0.5)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed: the same inputs and seed give the same grids"
    )
    p.add_argument("--registry", default=None,
                   help="code registry (SQLite); default OUT/registry.sqlite, kept between runs")  # fmt: skip
    p.add_argument(
        "--date", default=None, help="issue date of new codes (YYYY-MM-DD; default today)"
    )
    p.add_argument("--no-map", action="store_true", help="skip the HTML map")
    _batch_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "rerun", help="re-partition only the communities that changed since a previous run (R8)"
    )
    _inputs(p)
    p.add_argument(
        "--previous",
        required=True,
        help="output folder of the previous run (grids.gpkg, building_grid.csv)",
    )
    p.add_argument("--out", "-o", required=True, help="output folder of this run")
    p.add_argument("--lower", type=int, default=300, help="lower bound of a grid (default 300)")
    p.add_argument("--upper", type=int, default=500, help="upper bound of a grid (default 500)")
    p.add_argument("--measure", choices=("households", "residents"), default="households")
    p.add_argument(
        "--time-limit", type=float, default=0.5, help="CP-SAT deterministic seconds per community"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--registry", default=None,
                   help="code registry (default PREVIOUS/registry.sqlite, updated in place)")  # fmt: skip
    p.add_argument("--date", default=None, help="date of issued and retired codes (default today)")
    p.add_argument("--full-proof", action="store_true",
                   help="prove coverage of every community, not only the re-partitioned ones "
                        "(the others are the previous run's grids byte for byte)")  # fmt: skip
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser(
        "validate", help="read and validate the inputs; print counts per community and findings"
    )
    _inputs(p)
    p.add_argument(
        "--out", "-o", default=None, help="also write summary.csv and findings.gpkg here"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("sample", help="write the embedded Qingdao sample (GeoPackage + config)")
    p.add_argument("--out", "-o", default="data/samples", help="folder (default data/samples)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated parts (default 0)")
    p.set_defaults(func=cmd_sample)

    from gridgeo.coding._cli import register

    register(sub)
    from gridgeo.coverage._cli import register as register_coverage
    from gridgeo.export._cli import register as register_export

    register_coverage(sub)
    register_export(sub)
    return parser


def _batch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1,
                   help="Dask worker processes (default 1: no Dask, in this process)")  # fmt: skip
    p.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)"
    )
    p.add_argument("--checkpoint", default=None,
                   help="folder of per-community results: a run that dies resumes from it")  # fmt: skip
    p.add_argument("--progress", action="store_true", help="draw a progress bar")


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config", nargs="?", default=None, help="TOML config naming the input layers (see README)"
    )
    p.add_argument("--communities", default=None, help="community/village boundaries file[:layer]")
    p.add_argument("--buildings", default=None, help="residential buildings file[:layer]")
    p.add_argument("--landuse", default=None, help="land-use polygons file[:layer]")
    p.add_argument("--roads", default=None, help="roads file[:layer]")
    p.add_argument("--rivers", default=None, help="rivers file[:layer]")
    p.add_argument("--map", dest="mapping", action="append", default=None, metavar="LAYER.NAME=COLUMN",
                   help="column mapping, e.g. --map buildings.households=户数 (repeatable)")  # fmt: skip


def _sources(args: argparse.Namespace):
    from gridgeo.io import LayerSource, parse_mapping, read_config

    sources = read_config(args.config) if args.config else {}
    for name in ("communities", "buildings", "landuse", "roads", "rivers"):
        value = getattr(args, name)
        if value:
            path, _, layer = value.partition(":") if not Path(value).exists() else (value, "", "")
            sources[name] = LayerSource(
                Path(path), layer or None, sources.get(name, LayerSource(Path(path))).columns
            )
    from gridgeo.io import _known_columns

    mapping = parse_mapping(args.mapping)
    # Layer-free entries apply to every given layer that knows the column and has it.
    for canon, column in mapping.pop("*", {}).items():
        for name, src in sources.items():
            if canon in _known_columns(name):
                src.soft_columns[canon] = column
    for name, cols in mapping.items():
        if name in sources:
            sources[name].columns.update(cols)
        else:
            raise InputError([Problem("--map", None, f"layer {name!r} is mapped but not given")])
    if not sources:
        raise InputError(
            [Problem("input", None, "give a config file or --communities and --buildings")]
        )
    return sources


def _say(msg: str) -> None:
    print(msg, flush=True)


def _table(df: pd.DataFrame, max_rows: int = 30) -> str:
    with pd.option_context(
        "display.max_rows", max_rows, "display.width", 160, "display.max_columns", 20
    ):
        return df.to_string(index=False, max_rows=max_rows)


def cmd_validate(args: argparse.Namespace) -> int:
    """Read, validate and summarise the inputs."""
    from gridgeo.io import write_layer, write_table
    from gridgeo.validate import load_district, summarise

    district = load_district(_sources(args))
    summary = summarise(district)
    _say(_table(summary))
    _findings(district.findings)
    if args.out:
        out = Path(args.out)
        write_table(summary, out / "summary.csv")
        write_layer(district.findings.to_crs(district.crs) if len(district.findings) else district.findings,
                    out / "findings.gpkg", layer="findings")  # fmt: skip
        _say(f"wrote {out / 'summary.csv'} and {out / 'findings.gpkg'}")
    return 0


def _findings(findings) -> None:
    if findings is None or len(findings) == 0:
        _say("findings: none")
        return
    _say(f"findings: {len(findings)}")
    for row in findings.head(20).itertuples():
        where = f" [{row.feature_id}]" if row.feature_id else ""
        _say(f"  {row.severity} {row.rule} {row.source}{where}: {row.message}")
    if len(findings) > 20:
        _say(f"  ... and {len(findings) - 20} more (see the findings layer)")


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the embedded sample."""
    from gridgeo.io import write_layers, write_text
    from gridgeo.synth import qingdao_sample

    out = Path(args.out)
    layers = qingdao_sample(seed=args.seed)
    write_layers(layers, out / "qingdao_sample.gpkg")
    write_text(SAMPLE_CONFIG, out / "qingdao_sample.toml")
    counts = ", ".join(f"{k} {len(v)}" for k, v in layers.items())
    _say(f"wrote {out / 'qingdao_sample.gpkg'} ({counts}) and {out / 'qingdao_sample.toml'}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The main job."""
    from gridgeo.batch import community_outlines
    from gridgeo.coding import CodeRegistry, assign_codes
    from gridgeo.io import write_layers, write_table, write_text
    from gridgeo.partition import partition_district
    from gridgeo.units import build_units
    from gridgeo.validate import load_district, summarise

    out = Path(args.out)
    lower = args.lower if args.lower is not None else (300 if args.measure == "households" else 800)
    upper = (
        args.upper if args.upper is not None else (500 if args.measure == "households" else 1200)
    )
    t0 = time.perf_counter()
    district = load_district(_sources(args))
    summary = summarise(district)
    total = summary.iloc[-1]
    _say(f"read {len(district.communities)} communities, {int(total['buildings'])} buildings, "
         f"{int(total['households'])} households, {int(total['residents'])} residents "
         f"(work CRS {district.work_crs.name}; outputs in {district.crs.name})")  # fmt: skip
    _findings(district.findings)

    if args.workers > 1 or args.scheduler or args.checkpoint:
        from gridgeo.batch import RunOptions, run_partition

        opts = RunOptions(
            lower=lower,
            upper=upper,
            measure=args.measure,
            time_limit=args.time_limit,
            seed=args.seed,
        )
        batch = run_partition(district, options=opts, workers=args.workers, scheduler=args.scheduler,
                              checkpoint_dir=args.checkpoint, progress=args.progress)  # fmt: skip
        result = batch.result
        _say(f"batch: {len(district.communities)} communities, {batch.from_checkpoint} from the checkpoint, "
             f"{len(batch.failures)} failed, {batch.wall_s:.1f} s")  # fmt: skip
        for row in batch.failures.itertuples():
            _say(f"  FAILED {row.community_code}: {row.error}")
    else:
        units = build_units(district)
        _say(f"units: {len(units.units)} tiling the communities, {len(units.edges)} adjacencies")
        result = partition_district(district, lower=lower, upper=upper, measure=args.measure, units=units,
                                    time_limit=args.time_limit, seed=args.seed)  # fmt: skip
    grids = result.grids
    rep = result.report
    com = grids[grids["grid_class"] == "community"]
    inside = int(((com[args.measure] >= lower) & (com[args.measure] <= upper)).sum())
    _say(f"partition: {len(grids)} grids ({len(com)} community, {len(grids) - len(com)} dedicated); "
         f"{inside}/{len(com)} community grids in [{lower}, {upper}] {args.measure}; "
         f"status {dict(sorted(rep['status'].value_counts().items()))}")  # fmt: skip
    flagged = rep[rep["flags"] != ""]
    for row in flagged.itertuples():
        _say(f"  {row.community_code} {row.community_name}: {row.flags} - {row.notes}")

    verdict = _coverage(grids, district, result, lower, upper)

    registry_path = Path(args.registry) if args.registry else out / "registry.sqlite"
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    with CodeRegistry(registry_path) as reg:
        coded = assign_codes(grids, registry=reg, date=args.date, retire_missing=True)
    _say(f"codes: {coded['grid_code'].nunique()} codes, registry {registry_path}")

    layers = {
        "grids": coded,
        "units": result.units.units.to_crs(district.crs),
        "communities": community_outlines(district),
    }
    if len(verdict.findings):
        layers["findings"] = verdict.findings
    write_layers(layers, out / "grids.gpkg")
    write_table(result.report, out / "partition_report.csv")
    write_table(result.assignment, out / "unit_grid.csv")
    write_table(result.buildings, out / "building_grid.csv")
    write_table(summary, out / "summary.csv")
    written = [
        "grids.gpkg",
        "partition_report.csv",
        "unit_grid.csv",
        "building_grid.csv",
        "summary.csv",
    ]
    write_text(verdict.to_markdown(), out / "coverage.md")
    written.append("coverage.md")
    if not args.no_map:
        written.append(_map(coded, district, verdict, out / "map.html").name)
    _say(f"wrote {', '.join(written)} to {out} in {time.perf_counter() - t0:.1f} s")
    if args.workers > 1 or args.scheduler or args.checkpoint:
        if len(batch.failures):
            return 1
    return 0 if verdict.ok else 1


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-partition what changed since a previous run."""
    from gridgeo.batch.changes import (
        community_outlines,
        load_previous,
        repartition,
        write_change_map,
    )
    from gridgeo.coding import CodeRegistry
    from gridgeo.io import write_layers, write_table, write_text
    from gridgeo.validate import load_district

    out = Path(args.out)
    previous = load_previous(args.previous)
    district = load_district(_sources(args))
    _findings(district.findings)
    registry_path = (
        Path(args.registry) if args.registry else Path(args.previous) / "registry.sqlite"
    )
    with CodeRegistry(registry_path) as reg:
        res = repartition(previous, district, registry=reg, lower=args.lower, upper=args.upper, measure=args.measure,
                          time_limit=args.time_limit, seed=args.seed, date=args.date)  # fmt: skip
    ch = res.changes
    changed = ch[ch["status"] != "unchanged"]
    _say(f"changes: {len(changed)} of {len(ch)} communities changed; "
         f"{res.moved_share:.1%} of their households changed grid code")  # fmt: skip
    for row in changed.itertuples():
        _say(f"  {row.community_code} {row.community_name}: {row.status} - {row.notes}; grids {row.grids_before}"
             f" -> {row.grids_after}, codes kept {row.codes_kept}, issued {row.codes_issued}, "
             f"retired {row.codes_retired}, households moved {row.households_moved}")  # fmt: skip
    verdict = None
    if res.result is not None:
        from gridgeo.coverage import check_coverage

        if args.full_proof:
            scope, grids, units, what = district, res.grids, None, "every community"
        else:
            # Unchanged communities are the previous run's grids byte for byte; communities
            # never overlap (validated), so proving the re-partitioned ones proves the change.
            redo = sorted(set(res.result.grids["community_code"]))
            scope = district.subset(redo)
            grids = res.grids[res.grids["community_code"].isin(redo)]
            units, what = res.result.units, f"the {len(redo)} re-partitioned community(ies)"
        verdict = check_coverage(
            grids, scope, units=units, lower=args.lower, upper=args.upper, measure=args.measure
        )
        n_block = (
            int((verdict.findings["severity"] == "blocking").sum()) if len(verdict.findings) else 0
        )
        _say(
            f"coverage (R5) of {what}: {'PROVED' if verdict.ok else 'REFUTED'} - "
            f"{n_block} blocking finding(s)"
        )
    layers = {"grids": res.grids, "communities": community_outlines(district)}
    if verdict is not None and len(verdict.findings):
        layers["findings"] = verdict.findings
    write_layers(layers, out / "grids.gpkg")
    write_table(res.buildings, out / "building_grid.csv")
    write_table(ch, out / "changes.csv")
    if verdict is not None:
        write_text(verdict.to_markdown(), out / "coverage.md")
    write_change_map(previous, res, out / "changes.png")
    _say(f"wrote grids.gpkg, building_grid.csv, changes.csv, changes.png to {out}")
    return 0 if verdict is None or verdict.ok else 1


def _coverage(grids, district, result, lower, upper):
    """Run the coverage proof when the coverage stage is installed; print its verdict."""
    from gridgeo.coverage import check_coverage

    report = check_coverage(
        grids, district, units=result.units, lower=lower, upper=upper, measure=result.measure
    )
    n_block = int((report.findings["severity"] == "blocking").sum()) if len(report.findings) else 0
    verdict = "PROVED" if report.ok else "REFUTED"
    _say(
        f"coverage (R5): {verdict} - {n_block} blocking, {len(report.findings) - n_block} warning finding(s)"
    )
    return report


def _map(grids, district, verdict, path: Path) -> Path:
    from gridgeo.export.maps import write_map

    findings = verdict.findings if verdict is not None else None
    return write_map(grids, path, district=district, findings=findings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridgeo`` console script and ``python -m gridgeo``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GridgeoError as exc:
        print(f"gridgeo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridgeo: interrupted; no partial output was left", file=sys.stderr)
        return 130
    except OSError as exc:
        print(
            f"gridgeo {args.command}: error: {exc.filename or ''}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
