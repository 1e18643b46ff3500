"""The main job as one call: read → validate → units → partition → coverage → codes → write → map.

:func:`run` is what ``gridgeo run`` does and :func:`rerun` what ``gridgeo rerun`` does; the
command line only parses its arguments, calls them, prints and picks the exit code, and a
notebook gets the same job, the same outputs and the same checks::

    from gridgeo import pipeline

    result = pipeline.run("data/samples/qingdao_sample.toml", "out/sample", date="2026-01-01")
    result.grids          # the coded grid layer (input CRS)
    result.coverage.ok    # the coverage proof (R5)
    result.timings        # seconds per stage

A stage is added here once and both the command line and the notebooks have it. Both calls
write the same files (:data:`OUTPUTS`); :func:`rerun` adds ``changes.csv`` and ``changes.png``.
Every file is written atomically, the registry only after the grids are known.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridgeo.batch.changes import PreviousRun, community_outlines, load_previous, repartition
from gridgeo.batch.runner import run_partition
from gridgeo.coding import CodeRegistry, assign_codes
from gridgeo.coverage import CoverageReport, check_coverage
from gridgeo.district import District
from gridgeo.errors import InputError, Problem
from gridgeo.i18n import N_, _
from gridgeo.io import (
    UNIT_OPTION_KEYS,
    LayerSource,
    by_geometry_type,
    check_not_input,
    output_lock,
    read_config,
    read_config_options,
    write_layers,
    write_table,
    write_text,
)
from gridgeo.options import Execution, PartitionOptions, ReadOptions
from gridgeo.partition import REPORT_COLUMNS, PartitionResult
from gridgeo.units import Units
from gridgeo.validate import (
    HouseholdEstimate,
    load_district,
    read_census,
    summarise,
    validate_layers,
)

#: The files :func:`run` and :func:`rerun` write into ``out`` (rerun adds :data:`RERUN_OUTPUTS`).
OUTPUTS: tuple[str, ...] = (
    "grids.gpkg", "partition_report.csv", "unit_grid.csv", "building_grid.csv", "summary.csv",
    "coverage.md", "网格台账.xlsx", "map.html",
)  # fmt: skip

#: The per-grid ledger for the office (Excel: codes as text, one sheet per street and a summary).
LEDGER = "网格台账.xlsx"

#: What :func:`rerun` writes besides :data:`OUTPUTS`.
RERUN_OUTPUTS: tuple[str, ...] = ("changes.csv", "changes.png")

#: The registry's file name in an output folder (kept between runs).
REGISTRY = "registry.sqlite"

@dataclass(frozen=True)
class InputSpec:
    """Inputs with how to read them: a config file or layer sources, and :class:`ReadOptions`.

    A config file's own ``[options]`` table is used where ``read`` is None.

    Attributes
    ----------
    source : path-like or mapping
        A TOML config, or layer name → :class:`~gridgeo.io.LayerSource`.
    read : ReadOptions, optional
    """

    source: str | os.PathLike | Mapping[str, LayerSource]
    read: ReadOptions | None = None


#: What the job can be given: a config file, a validated district, or the layers themselves.
Inputs = (
    str | os.PathLike | InputSpec | District | Mapping[str, LayerSource] | Mapping[str, gpd.GeoDataFrame]
)

#: Receives one line of text per finished stage (the command line prints them).
Progress = Callable[[str], None]


@dataclass
class RunResult:
    """What :func:`run` made, in memory; the same as the files it wrote.

    Attributes
    ----------
    district : District
        The validated inputs (metric CRS), with their findings.
    summary : DataFrame
        Buildings, households and residents per community, with a TOTAL row.
    partition : PartitionResult
        Units, unit → grid and building → grid tables and the per-community solver report.
    grids : GeoDataFrame
        The grid layer with its 19-digit ``grid_code``, in the input CRS.
    coverage : CoverageReport or None
        The coverage proof (R5) of the grids (None only when a re-run changed nothing).
    options : PartitionOptions
        The band, budget and seed used.
    failures : DataFrame
        ``community_code``, ``error`` of communities whose partition raised (Dask runs).
    from_checkpoint : int
        Communities read from the checkpoint folder instead of being computed.
    timings : dict
        Stage name → seconds of wall time, in the order the stages ran.
    written : list of pathlib.Path
        The files written (empty when ``out`` was None).
    registry : pathlib.Path or None
        The code registry used.
    """

    district: District
    summary: pd.DataFrame
    partition: PartitionResult
    grids: gpd.GeoDataFrame
    coverage: CoverageReport | None
    options: PartitionOptions
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["community_code", "error"]))
    from_checkpoint: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    registry: Path | None = None

    @property
    def units(self) -> Units:
        """The units the grids were built from (metric CRS)."""
        return self.partition.units

    @property
    def codes(self) -> pd.DataFrame:
        """``grid_id``, ``grid_code`` of every grid."""
        return pd.DataFrame(self.grids[["grid_id", "grid_code"]])

    @property
    def ok(self) -> bool:
        """True when the coverage proof holds and no community failed."""
        return (self.coverage is None or self.coverage.ok) and len(self.failures) == 0


@dataclass
class RerunResult(RunResult):
    """What :func:`rerun` made: a :class:`RunResult` plus what changed since the previous run.

    Attributes
    ----------
    previous : PreviousRun or None
        The previous run's grids, building table and outlines.
    changes : DataFrame
        Per community: what changed in the inputs and in the grids
        (:data:`gridgeo.batch.CHANGE_COLUMNS`).
    moved_share : float
        Share of the households of changed communities whose grid code changed.
    scope : list of str
        The communities the coverage proof covered (all when ``full_proof``).
    """

    previous: PreviousRun | None = None
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    moved_share: float = 0.0
    scope: list[str] = field(default_factory=list)


class _Clock:
    """Per-stage wall times, as a context manager per stage."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - t0, 3)


def load_inputs(inputs: Inputs) -> District:
    """Read and validate the inputs of a run, whatever form they come in.

    Parameters
    ----------
    inputs : path-like, District or mapping
        A TOML config (see :func:`gridgeo.io.read_config`), an already validated
        :class:`District`, a mapping of layer name → :class:`~gridgeo.io.LayerSource`, or a
        mapping of layer name → GeoDataFrame with gridgeo's column names.

    Returns
    -------
    District

    Raises
    ------
    InputError
        With every problem of every layer.
    """
    if isinstance(inputs, District):
        return inputs
    if isinstance(inputs, str | os.PathLike):
        inputs = InputSpec(inputs)
    if isinstance(inputs, InputSpec):
        return _read(inputs)
    if isinstance(inputs, Mapping) and inputs:
        values = list(inputs.values())
        if all(isinstance(v, LayerSource) for v in values):
            return load_district(inputs)
        if all(isinstance(v, gpd.GeoDataFrame) for v in values):
            return validate_layers(inputs)
    raise InputError([Problem("inputs", None, _("give a config file, a District, or a mapping of layers "
                                                "(LayerSource or GeoDataFrame per layer name)"))])  # fmt: skip


def config_options(inputs: Inputs, base: PartitionOptions | None = None) -> PartitionOptions:
    """Partition options with the unit options of a config's ``[options]`` table.

    The per-class dedicated floors are merged with ``base``'s (``base`` wins for a class it
    names); ``road_discount``, ``block_cost`` and ``site_margin_m`` replace ``base``'s (the
    command line applies its own flags after the config, so a flag wins).

    Parameters
    ----------
    inputs : path-like, InputSpec, District or mapping
        Only a config file (or an InputSpec of one) carries options; others give ``base``.
    base : PartitionOptions, optional
        The options to start from (default: the defaults).

    Returns
    -------
    PartitionOptions
    """
    import dataclasses

    base = base or PartitionOptions()
    source = inputs.source if isinstance(inputs, InputSpec) else inputs
    if not isinstance(source, str | os.PathLike):
        return base
    table = read_config_options(source)
    values = {k: table[k] for k in UNIT_OPTION_KEYS if k in table}
    floors = table.get("dedicated_floor_m2")
    if floors:
        values["dedicated_floor_m2"] = {**floors, **base.units.dedicated_floor_m2}
    if not values:
        return base
    return dataclasses.replace(base, units=dataclasses.replace(base.units, **values))


def _read(spec: InputSpec) -> District:
    """Read and validate the layers of an :class:`InputSpec` with its reading options."""
    config = spec.source if isinstance(spec.source, str | os.PathLike) else None
    sources = read_config(config) if config is not None else dict(spec.source)
    read = spec.read
    if read is None:
        read = ReadOptions.from_config(read_config_options(config)) if config is not None else ReadOptions()
    estimate = None if read.estimate_households is None else HouseholdEstimate(**read.estimate_households)
    census = None if read.census is None else read_census(read.census)
    return load_district(sources, skip_unknown_landuse=read.skip_unknown_landuse, estimate=estimate, census=census)


def run(
    inputs: Inputs,
    out: str | os.PathLike | None = None,
    *,
    options: PartitionOptions | None = None,
    registry: str | os.PathLike | None = None,
    progress: Progress | None = None,
    execution: Execution | None = None,
    date: dt.date | str | None = None,
    draw_map: bool = True,
) -> RunResult:
    """Run the main job: validate, build units, partition, prove coverage, code, write, map.

    Parameters
    ----------
    inputs : path-like, District or mapping
        See :func:`load_inputs`.
    out : path-like, optional
        Output folder (created); the files of :data:`OUTPUTS` in it are replaced. Nothing is
        written when None, and the registry is then a temporary one unless ``registry`` is
        given.
    options : PartitionOptions, optional
        Band, time limit, seed and unit options (default 300–500 households, 0.5 s, seed 0).
    registry : path-like, optional
        The code registry (SQLite); default ``out/registry.sqlite``, kept between runs so the
        codes of unchanged grids stay.
    progress : callable, optional
        Called with one line of text when each stage ends.
    execution : Execution, optional
        In this process (default), on Dask workers or a scheduler, with a checkpoint folder, with
        a progress bar. The grids are the same whichever is chosen.
    date : date or str, optional
        Issue date of new codes (default today).
    draw_map : bool
        Write ``map.html``.

    Returns
    -------
    RunResult

    Raises
    ------
    InputError
        Bad inputs or options, before any partition work.
    """
    options = options or config_options(inputs)
    ex = execution or Execution()
    with _writer(out, registry, inputs):
        return _run(inputs, out, options, registry, progress or (lambda _line: None), ex, date, draw_map)


def _run(inputs, out, options, registry, say, ex, date, draw_map) -> RunResult:  # noqa: PLR0913 - run()'s own arguments
    clock = _Clock()
    with clock.stage("read"):
        district = load_inputs(inputs)
        summary = summarise(district)
    say(_read_line(district, summary))
    with clock.stage("units+partition"):
        batch = run_partition(district, options=options, workers=ex.workers, scheduler=ex.scheduler,
                              checkpoint_dir=ex.checkpoint, progress=ex.bar)  # fmt: skip
    part = batch.result
    say(_partition_line(part, options))
    if ex.batch:
        say(_("batch: {n} communities, {ckpt} from the checkpoint, {failed} failed, {wall:.1f} s").format(
            n=len(district.communities), ckpt=batch.from_checkpoint, failed=len(batch.failures),
            wall=batch.wall_s))  # fmt: skip
    for row in batch.failures.itertuples():
        say(_("  FAILED {code}: {error}").format(code=row.community_code, error=row.error))
    with clock.stage("coverage"):
        coverage = check_coverage(part.grids, district, units=part.units, band=options.band)
    say(coverage.verdict())
    result = RunResult(district, summary, part, part.grids, coverage, options, batch.failures,
                       batch.from_checkpoint)  # fmt: skip
    with _registry(registry, out) as (reg_path, reg):
        with clock.stage("codes"):
            result.grids = assign_codes(part.grids, registry=reg, date=date, retire_missing=True)
            result.registry = reg_path if out is not None or registry is not None else None
        say(_("codes: {n} codes, registry {path}").format(n=result.grids["grid_code"].nunique(),
                                                           path=result.registry or _("(temporary)")))  # fmt: skip
        _finish(result, out, reg, clock, draw_map)
    return _said(result, out, say, clock)


def rerun(  # noqa: PLR0913 - what a planner sets on a re-run: previous run, registry, date, proof scope, map
    inputs: Inputs,
    previous: str | os.PathLike | PreviousRun,
    out: str | os.PathLike | None = None,
    *,
    options: PartitionOptions | None = None,
    registry: str | os.PathLike | None = None,
    progress: Progress | None = None,
    date: dt.date | str | None = None,
    full_proof: bool = False,
    draw_map: bool = True,
) -> RerunResult:
    """Re-partition only the communities that changed since a previous run (R8).

    Unchanged communities keep their grids byte for byte; changed ones keep their grids and
    codes where they are still legal, and the registry records the lineage of the others.

    Parameters
    ----------
    inputs : path-like, District or mapping
        The new inputs (see :func:`load_inputs`).
    previous : path-like or PreviousRun
        The output folder of the previous run, or what :func:`gridgeo.batch.load_previous`
        read from it.
    out : path-like, optional
        Output folder: the files of :data:`OUTPUTS` and :data:`RERUN_OUTPUTS`.
    options : PartitionOptions, optional
        As :func:`run`.
    registry : path-like, optional
        The code registry the previous codes were issued from. Default: ``out/registry.sqlite``,
        started as a copy of the previous folder's registry, so the previous run's files stay
        as they were.
    progress : callable, optional
        Called with one line of text when each stage ends.
    date : date or str, optional
        Date of issued and retired codes (default today).
    full_proof : bool
        Prove coverage of every community, not only the re-partitioned ones (the others are
        the previous run's grids byte for byte).
    draw_map : bool
        Write ``map.html``.

    Returns
    -------
    RerunResult
    """
    options = options or config_options(inputs)
    with _writer(out, registry, inputs):
        return _rerun(inputs, previous, out, options, registry, progress or (lambda _line: None), date, full_proof,
                      draw_map)  # fmt: skip


def _rerun(inputs, previous, out, options, registry, say, date, full_proof, draw_map) -> RerunResult:  # noqa: PLR0913 - rerun()'s own arguments
    clock = _Clock()
    with clock.stage("read"):
        prev = previous if isinstance(previous, PreviousRun) else load_previous(previous)
        district = load_inputs(inputs)
        summary = summarise(district)
    say(_read_line(district, summary))
    source = None if isinstance(previous, PreviousRun) else Path(previous) / REGISTRY
    with _registry(registry, out, seed_from=source) as (reg_path, reg):
        with clock.stage("units+partition+codes"):
            res = repartition(prev, district, registry=reg, options=options, date=date)
        _say_changes(say, res)
        part = _merged_partition(prev, res, district, options)
        result = RerunResult(district, summary, part, res.grids, None, options, registry=reg_path,
                             previous=prev, changes=res.changes, moved_share=res.moved_share)  # fmt: skip
        if res.result is not None:
            with clock.stage("coverage"):
                _prove_rerun(result, res, full_proof)
            what = (_("every community") if full_proof
                    else _("the {n} re-partitioned community(ies)").format(n=len(result.scope)))  # fmt: skip
            say(result.coverage.verdict(what))
        _finish(result, out, reg, clock, draw_map)
    return _said(result, out, say, clock)


def _finish(result: RunResult, out, reg: CodeRegistry, clock: _Clock, draw_map: bool) -> None:
    """Write the outputs, then commit the new codes: they become visible together, never the codes first."""
    if out is not None:
        with clock.stage("write"):
            result.written = write_outputs(result, out, draw_map=draw_map)
    reg.commit()


def _said(result: RunResult, out, say: Progress, clock: _Clock) -> RunResult:
    """Say what was written; keep the stage timings on the result."""
    if out is not None:
        say(_("wrote {files} to {out}").format(files=", ".join(p.name for p in result.written), out=out))
    result.timings = clock.timings
    return result


def _prove_rerun(result: RerunResult, res, full_proof: bool) -> None:
    """The coverage proof of a re-run: of the re-partitioned communities, or of all."""
    options = result.options
    if full_proof:
        scope, grids, units = result.district, res.grids, None
        result.scope = sorted(result.district.communities["community_code"])
    else:
        # Unchanged communities are the previous run's grids byte for byte; communities
        # never overlap (validated), so proving the re-partitioned ones proves the change.
        result.scope = sorted(set(res.result.grids["community_code"]))
        scope = result.district.subset(result.scope)
        grids = res.grids[res.grids["community_code"].isin(result.scope)]
        units = res.result.units
    result.coverage = check_coverage(grids, scope, units=units, band=options.band)


def _merged_partition(prev: PreviousRun, res, district: District, options: PartitionOptions) -> PartitionResult:
    """The partition tables of a re-run: the previous rows of unchanged communities, new ones else."""
    redo = set() if res.result is None else set(res.result.grids["community_code"])
    keep = set(res.grids["community_code"]) - redo

    def kept(frame: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame:
        if frame is None or "community_code" not in frame.columns:
            return pd.DataFrame(columns=columns)
        return frame[frame["community_code"].astype(str).isin(keep)].reindex(columns=columns)

    new = res.result
    cols_a = ["unit_id", "grid_id", "community_code", "households"]
    assignment = _concat([kept(prev.assignment, cols_a), None if new is None else new.assignment], "unit_id")
    report_cols = list(new.report.columns) if new is not None else list(REPORT_COLUMNS)
    report = _concat([kept(prev.report, report_cols), None if new is None else new.report], "community_code")
    units = _merged_units(prev, new, keep, district)
    return PartitionResult(res.grids.drop(columns=["grid_code"], errors="ignore"), assignment, res.buildings,
                           report, units, options.lower, options.upper, options.measure,
                           findings=None if new is None else new.findings)  # fmt: skip


def _concat(frames: list[pd.DataFrame | None], key: str) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f.columns)]
    if not frames:
        return pd.DataFrame()
    nonempty = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1 else nonempty[0].reset_index(drop=True)
    return out.sort_values(key, kind="stable").reset_index(drop=True)


def _merged_units(prev: PreviousRun, new: PartitionResult | None, keep: set[str], district: District) -> Units:
    """Units of a re-run: the previous run's units layer for unchanged communities, the new ones else."""
    crs = district.work_crs
    parts = []
    if prev.units is not None and len(keep):
        old = prev.units[prev.units["community_code"].astype(str).isin(keep)]
        parts.append(old.to_crs(crs) if old.crs is not None else old.set_crs(crs))
    if new is not None:
        parts.append(new.units.units)
    if parts:
        frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
        frame = frame.sort_values("unit_id", kind="stable").reset_index(drop=True)
    else:
        frame = gpd.GeoDataFrame({"unit_id": [], "community_code": []}, geometry=[], crs=crs)
    edges = new.units.edges if new is not None else pd.DataFrame()
    bu = new.units.building_unit if new is not None else pd.DataFrame(columns=["building_id", "unit_id"])
    return Units(frame, edges, bu)


@contextmanager
def _registry(
    registry: str | os.PathLike | None,
    out: str | os.PathLike | None,
    *,
    seed_from: Path | None = None,
) -> Iterator[tuple[Path, CodeRegistry]]:
    """Open the code registry of a run: the one given, ``out/registry.sqlite``, or a temporary one.

    A re-run's default registry starts as a copy of the previous run's (``seed_from``), so the
    previous folder is never written.
    """
    import tempfile

    tmpdir = None
    if registry is not None:
        path = Path(registry)
    elif out is not None:
        path = Path(out) / REGISTRY
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="gridgeo-registry-")
        path = Path(tmpdir.name) / REGISTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    if registry is None and seed_from is not None and not path.exists() and seed_from.exists():
        shutil.copyfile(seed_from, path)
    try:
        with CodeRegistry(path, autocommit=False) as reg:
            yield path, reg
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


@contextmanager
def _writer(out: str | os.PathLike | None, registry: str | os.PathLike | None, inputs: Inputs) -> Iterator[None]:
    """One writer per output folder, and never an input as an output or a registry (checked first)."""
    check_not_input([out, registry], input_files(inputs))
    if out is None:
        yield
        return
    with output_lock(out):
        yield


def input_files(inputs: Inputs) -> list[Path]:
    """The files a run reads its layers from (and its config), as far as they are files.

    Parameters
    ----------
    inputs : path-like, District or mapping
        See :func:`load_inputs`.

    Returns
    -------
    list of pathlib.Path
    """
    if isinstance(inputs, InputSpec):
        files = input_files(inputs.source)
        census = inputs.read.census if inputs.read is not None else None
        return files + ([Path(census)] if census else [])
    if isinstance(inputs, str | os.PathLike):
        files = [Path(inputs)]
        try:
            files += [src.path for src in read_config(inputs).values()]
            census = read_config_options(inputs).get("census")
            files += [Path(census)] if census else []
        except InputError:
            pass  # reported when the inputs are read
        return files
    if isinstance(inputs, District):
        return [p for v in inputs.sources.values() for p in {Path(v), Path(str(v).rsplit(":", 1)[0])} if p.is_file()]
    if isinstance(inputs, Mapping):
        return [v.path for v in inputs.values() if isinstance(v, LayerSource)]
    return []


def write_outputs(result: RunResult, out: str | os.PathLike, *, draw_map: bool = True) -> list[Path]:
    """Write a run's files into ``out``, all of them or none.

    The files are written into a hidden staging folder inside ``out`` and moved into place only
    when every one is complete, so a failure while writing (a full disk, a bad value in the map)
    leaves the previous outputs as they were. A staging folder left by a killed run is removed.

    Parameters
    ----------
    result : RunResult or RerunResult
    out : path-like
        The output folder (created).
    draw_map : bool
        Write ``map.html``.

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`OUTPUTS` order (then :data:`RERUN_OUTPUTS`).
    """
    import tempfile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(f"{STAGING}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=out))
    try:
        staged = _write_all(result, stage, draw_map=draw_map)
        written = []
        for path in staged:
            os.replace(path, out / path.name)
            written.append(out / path.name)
        return written
    finally:
        shutil.rmtree(stage, ignore_errors=True)


#: Prefix of the hidden folder a run's files are written into before they are moved into place.
STAGING = ".gridgeo-staging-"


def run_findings(result: RunResult) -> gpd.GeoDataFrame:
    """Every located finding of a run for the ``findings`` layer, in the input CRS.

    The coverage proof's findings come first, then the partitioner's (a dedicated site that is
    no grid of its own, R4).

    Parameters
    ----------
    result : RunResult

    Returns
    -------
    GeoDataFrame
    """
    parts = []
    if result.coverage is not None and len(result.coverage.findings):
        parts.append(result.coverage.findings)
    site = result.partition.findings
    if site is not None and len(site):
        site = site.to_crs(result.district.crs)
        parts.append(site.reindex(columns=list(parts[0].columns) if parts else list(site.columns)))
    if not parts:
        return gpd.GeoDataFrame(geometry=[], crs=result.district.crs)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=result.district.crs)


def _write_all(result: RunResult, out: Path, *, draw_map: bool) -> list[Path]:
    """Write every output file of a run into ``out``."""
    out = Path(out)
    district, part = result.district, result.partition
    layers = {"grids": result.grids}
    if len(part.units.units):
        layers["units"] = part.units.units.to_crs(district.crs)
    layers["communities"] = community_outlines(district)
    findings = run_findings(result)
    if len(findings):
        # One geometry kind per layer (QGIS draws one a layer): findings, or findings_points and
        # findings_polygons when the proof located some at points and some as areas.
        layers.update(by_geometry_type("findings", findings))
    written = [write_layers(layers, out / "grids.gpkg")]
    written.append(write_table(part.report, out / "partition_report.csv"))
    written.append(write_table(part.assignment, out / "unit_grid.csv"))
    written.append(write_table(part.buildings, out / "building_grid.csv"))
    written.append(write_table(result.summary, out / "summary.csv"))
    if result.coverage is not None:
        written.append(write_text(result.coverage.to_markdown(), out / "coverage.md"))
    from gridgeo.export.ledger import write_ledger

    written.append(write_ledger(result.grids, out / LEDGER))
    if draw_map:
        from gridgeo.export.maps import write_map

        findings = result.coverage.findings if result.coverage is not None else None
        written.append(write_map(result.grids, out / "map.html", district=district, findings=findings))
    if isinstance(result, RerunResult):
        from gridgeo.export.changes import write_change_map

        written.append(write_table(result.changes, out / "changes.csv"))
        written.append(write_change_map(result.previous, result.grids, result.changes, out / "changes.png"))
    return written


def describe_findings(findings: pd.DataFrame | None, *, limit: int = 20) -> str:
    """The findings of validation as lines for a planner: severity, rule, file, feature, message.

    Parameters
    ----------
    findings : DataFrame or None
        :data:`gridgeo.district.FINDING_COLUMNS`.
    limit : int
        Lines shown; the rest are counted.

    Returns
    -------
    str
    """
    if findings is None or len(findings) == 0:
        return _("findings: none")
    lines = [_("findings: {n}").format(n=len(findings))]
    for row in findings.head(limit).itertuples():
        where = f" [{row.feature_id}]" if row.feature_id else ""
        lines.append(f"  {_(row.severity)} {row.rule} {row.source}{where}: {row.message}")
    if len(findings) > limit:
        lines.append(_("  ... and {n} more (see the findings layer)").format(n=len(findings) - limit))
    return "\n".join(lines)


def _read_line(district: District, summary: pd.DataFrame) -> str:
    total = summary.iloc[-1]
    line = _("read {communities} communities, {buildings} buildings, {households} households, "
             "{residents} residents (work CRS {work}; outputs in {crs})").format(
        communities=len(district.communities), buildings=int(total["buildings"]),
        households=int(total["households"]), residents=int(total["residents"]),
        work=district.work_crs.name, crs=district.crs.name)  # fmt: skip
    return line + "\n" + describe_findings(district.findings)


#: The flags of a grid as the partition line names them (written as literals across the partition;
#: the statuses are :class:`~gridgeo.partition.grids.GridStatus`, whose Chinese a test checks).
FLAG_WORDS: tuple[str, ...] = (
    N_("band_widened"), N_("below_band"), N_("village_below_band"), N_("oversize_unit"),
    N_("dedicated_over_band"), N_("no_households"), N_("multipart"),
)  # fmt: skip


def _partition_line(part: PartitionResult, options: PartitionOptions) -> str:
    grids, rep, m = part.grids, part.report, options.measure
    com = grids[grids["grid_class"] == "community"]
    inside = int(((com[m] >= options.lower) & (com[m] <= options.upper)).sum())
    counts = sorted(rep["status"].value_counts().items()) if len(rep) else []
    status = "{" + ", ".join(f"{_(str(k))} {v}" for k, v in counts) + "}"
    lines = [
        _("units: {units} tiling the communities, {edges} adjacencies").format(
            units=len(part.units.units), edges=len(part.units.edges)),
        _("partition: {grids} grids ({community} community, {dedicated} dedicated); {inside}/{community} "
          "community grids in [{lower}, {upper}] {measure}; status {status}").format(
            grids=len(grids), community=len(com), dedicated=len(grids) - len(com), inside=inside,
            lower=options.lower, upper=options.upper, measure=_(m), status=status),
    ]  # fmt: skip
    for row in rep[rep["flags"] != ""].itertuples():
        flags = ";".join(_(f) for f in str(row.flags).split(";"))
        lines.append(f"  {row.community_code} {row.community_name}: {flags} - {row.notes}")
    sites = part.findings if part.findings is not None else []
    if len(sites):
        lines.append(_("R4: {n} dedicated site(s) are no grid of their own (warnings in the findings layer):")
                     .format(n=len(sites)))  # fmt: skip
        lines += [f"  {row.feature_id}: {row.message}" for row in sites.head(10).itertuples()]
    return "\n".join(lines)


def _say_changes(say: Progress, res) -> None:
    ch = res.changes
    changed = ch[ch["status"] != "unchanged"]
    say(_("changes: {changed} of {total} communities changed; {share:.1%} of their households changed grid "
          "code").format(changed=len(changed), total=len(ch), share=res.moved_share))  # fmt: skip
    for row in changed.itertuples():
        say(_("  {code} {name}: {status} - {notes}; grids {before} -> {after}, codes kept {kept}, issued "
              "{issued}, retired {retired}, households moved {moved}").format(
            code=row.community_code, name=row.community_name, status=_(row.status), notes=row.notes,
            before=row.grids_before, after=row.grids_after, kept=row.codes_kept, issued=row.codes_issued,
            retired=row.codes_retired, moved=row.households_moved))  # fmt: skip
