"""The ``gridgeo`` command line.

Every command reads planner files, writes its outputs atomically into the folder it is given
and prints what it did. A :class:`~gridgeo.errors.GridgeoError` is printed as a plain message
(each problem on its own line, naming the file and feature) and the command exits 2; no
traceback reaches the user. Exit 1 means the job ran but found a blocking problem (e.g. the
coverage proof failed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gridgeo import __version__
from gridgeo.errors import GridgeoError, InputError, Problem
from gridgeo.i18n import LANGUAGES, _, set_language
from gridgeo.options import add_band_arguments

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
        description=_("Service grids for grid-based community management (网格化服务管理): "
                      "validate inputs, partition communities into grids of 300-500 households, prove "
                      "coverage, assign 19-digit codes, and draw maps."),
    )
    parser.add_argument("--version", action="version", version=f"gridgeo {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help=_("print only errors"))
    parser.add_argument("--log", default=None, metavar="FILE",
                        help=_("also write what the command says, with times, to FILE"))  # fmt: skip
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help=_("language of messages: zh (简体中文) or en (default: from the locale)"))  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("run", help=_("the main job: validate, partition, prove coverage, code, map"))
    _inputs(p)
    p.add_argument(
        "--out", "-o", required=True, help=_("output folder (created; files in it are replaced)")
    )
    add_band_arguments(p, partition=True)
    _floor_option(p)
    p.add_argument("--registry", default=None,
                   help=_("code registry (SQLite); default OUT/registry.sqlite, kept between runs"))  # fmt: skip
    p.add_argument(
        "--date", default=None, help=_("issue date of new codes (YYYY-MM-DD; default today)")
    )
    p.add_argument("--no-map", action="store_true", help=_("skip the HTML map"))
    _batch_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "rerun", help=_("re-partition only the communities that changed since a previous run (R8)")
    )
    _inputs(p)
    p.add_argument(
        "--previous",
        required=True,
        help=_("output folder of the previous run (grids.gpkg, building_grid.csv)"),
    )
    p.add_argument("--out", "-o", required=True, help=_("output folder of this run"))
    add_band_arguments(p, partition=True)
    _floor_option(p)
    p.add_argument("--registry", default=None,
                   help=_("code registry (default OUT/registry.sqlite, started as a copy of "
                          "PREVIOUS/registry.sqlite; the previous folder is not written)"))  # fmt: skip
    p.add_argument("--date", default=None, help=_("date of issued and retired codes (default today)"))
    p.add_argument("--full-proof", action="store_true",
                   help=_("prove coverage of every community, not only the re-partitioned ones "
                          "(the others are the previous run's grids byte for byte)"))  # fmt: skip
    p.add_argument("--no-map", action="store_true", help=_("skip the HTML map"))
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser(
        "validate", help=_("read and validate the inputs; print counts per community and findings")
    )
    _inputs(p)
    p.add_argument(
        "--out", "-o", default=None, help=_("also write summary.csv and findings.gpkg here")
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("sample", help=_("write the embedded Qingdao sample (GeoPackage + config)"))
    p.add_argument("--out", "-o", default="data/samples", help=_("folder (default data/samples)"))
    p.add_argument("--seed", type=int, default=0, help=_("seed of the generated parts (default 0)"))
    p.set_defaults(func=cmd_sample)

    from gridgeo.coding._cli import register

    register(sub)
    from gridgeo.coverage._cli import register as register_coverage
    from gridgeo.export._cli import register as register_export
    from gridgeo.review._cli import register as register_review

    register_coverage(sub)
    register_export(sub)
    register_review(sub)
    return parser


def _floor_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dedicated-floor", action="append", default=None, metavar="CLASS=M2",
                   help=_("a site of CLASS smaller than M2 gets no dedicated grid (a located R4 finding "
                          "instead); repeatable; default: every site of a dedicated class is its own grid"))  # fmt: skip
    p.add_argument("--road-discount", type=float, default=None, metavar="SHARE",
                   help=_("cost of a grid boundary along a street or river, as a share of its length "
                          "(0-1; default 0.1)"))  # fmt: skip
    p.add_argument("--block-cost", type=float, default=None, metavar="X",
                   help=_("a grid boundary between two footprints of one street block costs X times one "
                          "along a street (>= 1; default 4)"))  # fmt: skip
    p.add_argument("--site-margin", type=float, default=None, metavar="M",
                   help=_("an empty strip narrower than M metres between a dedicated site and its street "
                          "joins the site's grid (0 turns it off; default 3)"))  # fmt: skip

#: The ``--flag`` of each :class:`gridgeo.units.UnitOptions` field the command line sets.
UNIT_FLAGS = {"road_discount": "road_discount", "block_cost": "block_cost", "site_margin_m": "site_margin"}



def _batch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1,
                   help=_("Dask worker processes (default 1: no Dask, in this process)"))  # fmt: skip
    p.add_argument(
        "--scheduler", default=None, help=_("address of an existing Dask scheduler (tcp://host:8786)")
    )
    p.add_argument("--checkpoint", default=None,
                   help=_("folder of per-community results: a run that dies resumes from it"))  # fmt: skip
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=_("draw a progress bar of the communities (default: when the terminal shows it)"))  # fmt: skip


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config", nargs="?", default=None, help=_("TOML config naming the input layers (see README)")
    )
    p.add_argument("--communities", default=None, help=_("community/village boundaries file[:layer]"))
    p.add_argument("--buildings", default=None, help=_("residential buildings file[:layer]"))
    p.add_argument("--landuse", default=None, help=_("land-use polygons file[:layer]"))
    p.add_argument("--roads", default=None, help=_("roads file[:layer]"))
    p.add_argument("--rivers", default=None, help=_("rivers file[:layer]"))
    p.add_argument("--map", dest="mapping", action="append", default=None, metavar="LAYER.NAME=COLUMN",
                   help=_("column mapping, e.g. --map buildings.households=户数 (repeatable)"))  # fmt: skip
    g = p.add_argument_group(_("reading real data"))
    g.add_argument("--skip-unknown-landuse", action="store_true", default=None,
                   help=_("leave out land use of an unknown class, with a warning each (default: refuse)"))  # fmt: skip
    g.add_argument("--estimate-households", action="store_true", default=None,
                   help=_("estimate missing household counts from footprint area x levels"))  # fmt: skip
    g.add_argument("--floor-area-per-household", type=float, default=None, metavar="M2",
                   help=_("floor area of a household for the estimate (default 70 m²)"))  # fmt: skip
    g.add_argument("--levels-column", default=None, help=_("buildings column with the storeys (default levels)"))
    g.add_argument("--household-size", type=float, default=None,
                   help=_("residents per household for the estimate (default 2.5)"))  # fmt: skip
    g.add_argument("--census", default=None, metavar="CSV",
                   help=_("households and residents per community (community_code, households, residents), "
                          "shared among its buildings by floor area"))  # fmt: skip


def _spec(args: argparse.Namespace):
    """The inputs with how to read them: the config's [options], then the flags over them."""
    import dataclasses

    from gridgeo.io import read_config_options
    from gridgeo.options import ReadOptions
    from gridgeo.pipeline import InputSpec

    read = ReadOptions.from_config(read_config_options(args.config)) if args.config else ReadOptions()
    est = read.estimate_households
    if args.estimate_households or any(v is not None for v in (args.floor_area_per_household, args.levels_column,
                                                                args.household_size)):  # fmt: skip
        est = dict(est or {})
        for key, value in (("floor_area_m2", args.floor_area_per_household), ("levels_column", args.levels_column),
                           ("household_size", args.household_size)):  # fmt: skip
            if value is not None:
                est[key] = value
    read = dataclasses.replace(
        read, estimate_households=est,
        skip_unknown_landuse=read.skip_unknown_landuse if args.skip_unknown_landuse is None else True,
        census=args.census or read.census)  # fmt: skip
    return InputSpec(_sources(args), read)


def _sources(args: argparse.Namespace):
    from gridgeo.io import LayerSource, parse_mapping, read_config

    sources = read_config(args.config) if args.config else {}
    for name in ("communities", "buildings", "landuse", "roads", "rivers"):
        value = getattr(args, name)
        if value:
            path, _sep, layer = value.partition(":") if not Path(value).exists() else (value, "", "")
            sources[name] = LayerSource(
                Path(path), layer or None, sources.get(name, LayerSource(Path(path))).columns
            )
    from gridgeo.io import known_columns

    mapping = parse_mapping(args.mapping)
    # Layer-free entries apply to every given layer that knows the column and has it.
    for canon, column in mapping.pop("*", {}).items():
        for name, src in sources.items():
            if canon in known_columns(name):
                src.soft_columns[canon] = column
    for name, cols in mapping.items():
        if name in sources:
            sources[name].columns.update(cols)
        else:
            raise InputError([Problem("--map", None, _("layer {name!r} is mapped but not given").format(name=name))])
    if not sources:
        raise InputError(
            [Problem("input", None, _("give a config file or --communities and --buildings"))]
        )
    return sources


#: What the commands say goes through this logger: to standard output (unless --quiet) and --log FILE.
LOG = logging.getLogger("gridgeo")


def _say(msg: str) -> None:
    LOG.info(msg)


@contextlib.contextmanager
def _logging(quiet: bool, log_file: str | None):
    """Send the commands' lines to the terminal (unless quiet) and to a log file (when given)."""
    handlers: list[logging.Handler] = []
    if not quiet:
        handlers.append(logging.StreamHandler(sys.stdout))
    if log_file:
        try:
            fh = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise InputError([Problem("--log", None, _("cannot write the log file {file}: {why}").format(
                file=log_file, why=exc.strerror or exc))]) from None
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handlers.append(fh)
    for h in handlers:
        LOG.addHandler(h)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    try:
        yield
    finally:
        for h in handlers:
            h.flush()
            LOG.removeHandler(h)
            h.close()


def _table(df: pd.DataFrame, max_rows: int = 30) -> str:
    with pd.option_context(
        "display.max_rows", max_rows, "display.width", 160, "display.max_columns", 20
    ):
        return df.to_string(index=False, max_rows=max_rows)


def cmd_validate(args: argparse.Namespace) -> int:
    """Read, validate and summarise the inputs."""
    from gridgeo.io import write_layer, write_table
    from gridgeo.pipeline import describe_findings, input_files, load_inputs
    from gridgeo.validate import summarise

    spec = _spec(args)
    if args.out:
        from gridgeo.io import check_not_input

        check_not_input([args.out], input_files(spec))
    district = load_inputs(spec)
    summary = summarise(district)
    _say(_table(summary))
    _say(describe_findings(district.findings))
    if args.out:
        out = Path(args.out)
        write_table(summary, out / "summary.csv")
        write_layer(district.findings.to_crs(district.crs) if len(district.findings) else district.findings,
                    out / "findings.gpkg", layer="findings")  # fmt: skip
        _say(_("wrote {a} and {b}").format(a=out / "summary.csv", b=out / "findings.gpkg"))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """Write the embedded sample."""
    from gridgeo.io import write_layers, write_text
    from gridgeo.synth import qingdao_sample

    out = Path(args.out)
    layers = qingdao_sample(seed=args.seed)
    write_layers(layers, out / "qingdao_sample.gpkg")
    write_text(SAMPLE_CONFIG, out / "qingdao_sample.toml")
    counts = ", ".join(f"{k} {len(v)}" for k, v in layers.items())
    _say(_("wrote {gpkg} ({counts}) and {toml}").format(gpkg=out / "qingdao_sample.gpkg", counts=counts,
                                                        toml=out / "qingdao_sample.toml"))  # fmt: skip
    return 0


def _options(args: argparse.Namespace):
    """The run's options from the command line (a bad value is an InputError: exit 2)."""
    from gridgeo.options import PartitionOptions
    from gridgeo.pipeline import config_options
    from gridgeo.units import UnitOptions

    floors = _floors(args.dedicated_floor)
    base = PartitionOptions.of(lower=args.lower, upper=args.upper, measure=args.measure,
                               time_limit=args.time_limit, seed=args.seed,
                               units=UnitOptions(dedicated_floor_m2=floors))  # fmt: skip
    options = config_options(args.config, base) if args.config else base
    flags = {field: getattr(args, dest) for field, dest in UNIT_FLAGS.items() if getattr(args, dest, None) is not None}
    if flags:  # a flag wins over the config
        options = dataclasses.replace(options, units=dataclasses.replace(options.units, **flags))
    return options


def _floors(values: list[str] | None) -> dict[str, float]:
    """``--dedicated-floor school=800`` (repeatable) as class -> m²."""
    from gridgeo.schema import normalise_landuse_class

    out: dict[str, float] = {}
    for value in values or []:
        cls, sep, area = value.partition("=")
        try:
            m2 = float(area)
        except ValueError:
            m2 = -1.0
        klass = normalise_landuse_class(cls.strip()) if sep else None
        if klass is None or not m2 >= 0:
            raise InputError([Problem("--dedicated-floor", None, _("{value!r}: give CLASS=M2, e.g. office_building=2000")
                                      .format(value=value))])  # fmt: skip
        out[klass] = m2
    return out


def cmd_run(args: argparse.Namespace) -> int:
    """The main job (:func:`gridgeo.pipeline.run`)."""
    from gridgeo import pipeline
    from gridgeo.options import Execution

    t0 = time.perf_counter()
    options = _options(args)
    execution = Execution(workers=args.workers, scheduler=args.scheduler, checkpoint=args.checkpoint,
                          bar=sys.stderr.isatty() if args.progress is None else args.progress)  # fmt: skip
    result = pipeline.run(_spec(args), args.out, options=options, registry=args.registry, progress=_say,
                          execution=execution, date=args.date, draw_map=not args.no_map)  # fmt: skip
    _say(_done(t0, result.timings))
    return 0 if result.ok else 1


def cmd_rerun(args: argparse.Namespace) -> int:
    """Re-partition what changed since a previous run (:func:`gridgeo.pipeline.rerun`)."""
    from gridgeo import pipeline

    t0 = time.perf_counter()
    options = _options(args)
    result = pipeline.rerun(_spec(args), args.previous, args.out, options=options, registry=args.registry,
                            progress=_say, date=args.date, full_proof=args.full_proof,
                            draw_map=not args.no_map)  # fmt: skip
    _say(_done(t0, result.timings))
    return 0 if result.ok else 1


def _done(t0: float, timings: dict[str, float]) -> str:
    stages = ", ".join(f"{_(k)} {v:.1f} s" for k, v in timings.items())
    return _("done in {seconds:.1f} s ({stages})").format(seconds=time.perf_counter() - t0, stages=stages)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridgeo`` console script and ``python -m gridgeo``.

    The language (``--lang``, else the locale) is chosen before the parser is built, so its help
    texts are in it too.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang", choices=LANGUAGES, default=None)
    set_language(pre.parse_known_args(argv)[0].lang)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _logging(args.quiet, args.log):
            return int(args.func(args) or 0)
    except GridgeoError as exc:
        print(_("gridgeo {command}: error: {message}").format(command=args.command, message=exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(_("gridgeo: interrupted; no partial output was left"), file=sys.stderr)
        return 130
    except OSError as exc:
        message = f"{exc.filename or ''}: {exc.strerror or exc}"
        print(_("gridgeo {command}: error: {message}").format(command=args.command, message=message),
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
