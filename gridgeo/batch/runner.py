"""A whole city, community by community: in-process or on a Dask cluster, checkpointed.

Once the inputs are validated, communities are independent (R2: a grid never straddles two),
so each community's units and partition are one task. :func:`run_partition` streams them:

* in this process when ``workers == 1`` and no scheduler is given;
* otherwise on Dask distributed — a local cluster of ``workers`` single-threaded processes,
  or the cluster at ``scheduler`` (``tcp://host:8786``) — with at most a few tasks per worker
  in flight, so memory stays bounded by the communities being worked on;
* each finished community is written to ``checkpoint_dir`` (keyed by a hash of its inputs and
  the options), so a run that dies resumes without redoing finished communities, and a
  changed community is never served from a stale checkpoint;
* a community that fails is reported (``failures``) and the others go on.

The assembled result equals :func:`gridgeo.partition.partition_district` on the whole district
(the same units and the same per-community solves, in the same order).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridgeo.district import District, empty_findings
from gridgeo.i18n import _, current_language, set_language
from gridgeo.io import atomic_path
from gridgeo.options import PartitionOptions
from gridgeo.partition import PartitionResult, partition_district
from gridgeo.units import Units, build_units

#: Bump when the per-community result format or algorithm changes: old checkpoints are ignored.
CHECKPOINT_VERSION = "2"


@dataclass
class BatchResult:
    """The assembled partition of a run and what failed.

    Attributes
    ----------
    result : PartitionResult
        Grids, assignment, report and units of every community that succeeded.
    failures : DataFrame
        ``community_code``, ``error``: communities whose task raised.
    from_checkpoint : int
        Communities taken from the checkpoint folder instead of being computed.
    wall_s : float
    """

    result: PartitionResult
    failures: pd.DataFrame
    from_checkpoint: int
    wall_s: float


def community_subsets(
    district: District, codes: list[str] | None = None
) -> Iterator[tuple[str, District]]:
    """Yield ``(code, district of that community alone)``, using spatial indexes.

    Parameters
    ----------
    district : District
    codes : list of str, optional
        Only these communities (default all), in code order.

    Yields
    ------
    tuple
        Community code and its one-community :class:`District`.
    """
    com = district.communities.sort_values("community_code")
    if codes is not None:
        com = com[com["community_code"].isin(set(codes))]
    by_com = district.buildings.groupby("community_code").indices
    trees = {
        name: (layer, shapely.STRtree(layer.geometry.values))
        for name, layer in (
            ("landuse", district.landuse),
            ("roads", district.roads),
            ("rivers", district.rivers),
        )
        if len(layer)
    }
    empty = {name: layer.iloc[0:0] for name, layer in (("landuse", district.landuse), ("roads", district.roads),
                                                        ("rivers", district.rivers))}  # fmt: skip
    for i in range(len(com)):
        row = com.iloc[i : i + 1]
        code = row["community_code"].iloc[0]
        geom = row.geometry.iloc[0]
        parts = dict(empty)
        for name, (layer, tree) in trees.items():
            hit = np.sort(tree.query(geom, predicate="intersects"))
            parts[name] = layer.iloc[hit]
        bld = district.buildings.iloc[by_com.get(code, np.array([], dtype=int))]
        yield (
            code,
            replace(
                district,
                communities=row,
                buildings=bld,
                findings=district.findings.iloc[0:0],
                **parts,
            ),
        )


def run_community(sub: District, options: PartitionOptions) -> PartitionResult:
    """Build the units of a one-community district and partition it (one task).

    Parameters
    ----------
    sub : District
        A district holding one community (see :func:`community_subsets`).
    options : PartitionOptions

    Returns
    -------
    PartitionResult
    """
    units = build_units(sub, options.units)
    return partition_district(sub, lower=options.lower, upper=options.upper, measure=options.measure, units=units,
                              time_limit=options.time_limit, seed=options.seed)  # fmt: skip


def input_key(sub: District, options: PartitionOptions) -> str:
    """A hash of everything a community's result depends on (inputs and options)."""
    h = hashlib.sha256()
    h.update(CHECKPOINT_VERSION.encode())
    h.update(repr(options).encode())
    h.update(str(sub.crs).encode())
    for layer in (sub.communities, sub.buildings, sub.landuse, sub.roads, sub.rivers):
        attrs = layer.drop(columns=layer.geometry.name)
        h.update(pd.util.hash_pandas_object(attrs.astype(str), index=False).to_numpy().tobytes())
        h.update(b"".join(shapely.to_wkb(layer.geometry.values, output_dimension=2)))
    return h.hexdigest()


def run_partition(
    district: District,
    *,
    options: PartitionOptions | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
    communities: list[str] | None = None,
    task: Callable[[District, PartitionOptions], PartitionResult] = run_community,
) -> BatchResult:
    """Partition every community of a district, in parallel and resumable.

    Parameters
    ----------
    district : District
        A validated district.
    options : PartitionOptions, optional
        Band, measure, time limit, seed, unit options.
    workers : int
        Processes of the local Dask cluster; 1 runs in this process (no Dask).
    scheduler : str, optional
        Address of an existing Dask scheduler; ``workers`` is then ignored.
    checkpoint_dir : path-like, optional
        Folder of per-community results; finished communities whose inputs did not change
        are read from it instead of being computed again.
    progress : bool
        Draw a progress bar on standard error.
    communities : list of str, optional
        Only these communities.
    task : callable
        The per-community function (for tests and extensions).

    Returns
    -------
    BatchResult
    """
    options = options or PartitionOptions()
    start = time.perf_counter()
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
    subsets = community_subsets(district, communities)
    total = len(district.communities) if communities is None else len(set(communities))
    done: dict[str, PartitionResult] = {}
    failures: list[tuple[str, str]] = []
    bar = _Progress(total, enabled=progress)
    reused: list[str] = []

    def pending() -> Iterator[tuple[str, District, str]]:
        # A generator: each community's inputs are cut out when its task is about to be sent,
        # so the driver never holds a second copy of the whole city.
        for code, sub in subsets:
            key = input_key(sub, options) if ckpt is not None else ""
            cached = _load(ckpt, code, key) if ckpt is not None else None
            if cached is not None:
                done[code] = cached
                reused.append(code)
                bar.step()
                continue
            yield code, sub, key

    def finish(code: str, key: str, res: PartitionResult | None, err: str | None) -> None:
        if err is not None:
            failures.append((code, err))
        else:
            done[code] = res
            if ckpt is not None:
                _save(ckpt, code, key, res)
        bar.step()

    if scheduler is None and workers <= 1:
        for code, sub, key in pending():
            ((res, err),) = _run_chunk(task, [sub], options)
            finish(code, key, res, err)
    else:
        _run_dask(pending(), options, task, workers, scheduler, finish)
    bar.close()
    result = assemble([done[c] for c in sorted(done)], district)
    fails = pd.DataFrame(sorted(failures), columns=["community_code", "error"])
    return BatchResult(result, fails, len(reused), time.perf_counter() - start)


def _run_dask(pending, options, task, workers, scheduler, finish) -> None:
    from distributed import Client, LocalCluster, as_completed

    if scheduler is not None:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        window = 4 * n_workers
        queue = _chunks(pending, CHUNK_BUILDINGS, CHUNK_COMMUNITIES)
        keys: dict = {}
        ac = as_completed()

        def submit() -> bool:
            chunk = next(queue, None)
            if chunk is None:
                return False
            first, last = chunk[0][0], chunk[-1][0]
            fut = client.submit(
                _run_chunk, task, [sub for _, sub, _ in chunk], options, current_language(),
                key=f"gridgeo-{first}-{last}-{chunk[0][2][:12] or id(chunk)}", pure=False,
            )  # fmt: skip
            keys[fut.key] = [(code, key) for code, _, key in chunk]
            ac.add(fut)
            return True

        for _slot in range(window):
            if not submit():
                break
        for fut in ac:
            members = keys.pop(fut.key)
            try:
                outcomes = fut.result()
            except Exception as exc:  # noqa: BLE001 - the whole task died: each community is reported
                outcomes = [(None, _failure(exc))] * len(members)
            for (code, key), (res, err) in zip(members, outcomes, strict=True):
                finish(code, key, res, err)
            fut.release()
            submit()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


#: Communities travel to the Dask workers in chunks of about this many buildings (at most this
#: many communities): 615 generated communities on 2 workers took 70.1 s against 81.6 s with
#: one task per community (task and serialisation overhead in the driver).
CHUNK_BUILDINGS = 1500
CHUNK_COMMUNITIES = 16


def _chunks(pending: Iterable, buildings: int, communities: int) -> Iterator[list]:
    """Consecutive groups of pending communities, each about ``buildings`` buildings (lazily)."""
    chunk: list = []
    size = 0
    for item in pending:
        if chunk and (size >= buildings or len(chunk) >= communities):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item[1].buildings)
    if chunk:
        yield chunk


def _run_chunk(task, subs: list, options, lang: str | None = None) -> list[tuple[PartitionResult | None, str | None]]:
    """Run ``task`` on each community of a chunk (a Dask task, or one community in process).

    A failure is returned as its message; the others go on. ``lang``: the language of the
    community notes, the driver's (a Dask worker is a process of its own).
    """
    if lang is not None and lang != current_language():
        set_language(lang)
    out: list[tuple[PartitionResult | None, str | None]] = []
    for sub in subs:
        try:
            out.append((task(sub, options), None))
        except Exception as exc:  # noqa: BLE001 - a failing community is reported, the others go on
            out.append((None, _failure(exc)))
    return out


def _failure(exc: BaseException) -> str:
    """How a community's failure is reported: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}"


def assemble(results: list[PartitionResult], district: District) -> PartitionResult:
    """Concatenate per-community results into one, in community order."""
    if not results:
        return partition_district(district, communities=[])
    grids = gpd.GeoDataFrame(
        pd.concat([r.grids for r in results], ignore_index=True), crs=results[0].grids.crs
    )
    assignment = pd.concat([r.assignment for r in results], ignore_index=True)
    buildings = pd.concat([r.buildings for r in results], ignore_index=True)
    report = pd.concat([r.report for r in results], ignore_index=True)
    units = Units(
        gpd.GeoDataFrame(
            pd.concat([r.units.units for r in results], ignore_index=True),
            crs=results[0].units.units.crs,
        ),
        pd.concat([r.units.edges for r in results], ignore_index=True),
        pd.concat([r.units.building_unit for r in results], ignore_index=True),
        [site for r in results for site in r.units.sites],
    )
    found = [r.findings for r in results if r.findings is not None and len(r.findings)]
    findings = (
        gpd.GeoDataFrame(pd.concat(found, ignore_index=True), crs=found[0].crs)
        if found
        else empty_findings(results[0].units.units.crs)
    )
    grids = grids.sort_values("grid_id", kind="stable").reset_index(drop=True)
    assignment = assignment.sort_values("unit_id", kind="stable").reset_index(drop=True)
    buildings = buildings.sort_values("building_id", kind="stable").reset_index(drop=True)
    first = results[0]
    return PartitionResult(
        grids, assignment, buildings, report, units, first.lower, first.upper, first.measure, findings=findings
    )


def _path(ckpt: Path, code: str) -> Path:
    return ckpt / f"{code}.pkl"


def _load(ckpt: Path, code: str, key: str) -> PartitionResult | None:
    path = _path(ckpt, code)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            stored_key, res = pickle.load(fh)  # noqa: S301 - our own checkpoint files
    except Exception:  # noqa: BLE001 - a damaged checkpoint is recomputed
        return None
    return res if stored_key == key else None


def _save(ckpt: Path, code: str, key: str, res: PartitionResult) -> None:
    with atomic_path(_path(ckpt, code)) as tmp, open(tmp, "wb") as fh:
        pickle.dump((key, res), fh, protocol=pickle.HIGHEST_PROTOCOL)


class _Progress:
    """A one-line progress bar on standard error."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = max(total, 1)
        self.n = 0
        self.enabled = enabled
        self.start = time.perf_counter()

    def step(self) -> None:
        self.n += 1
        if self.enabled:
            frac = self.n / self.total
            el = time.perf_counter() - self.start
            eta = el / frac - el if frac > 0 else 0
            bar = "#" * int(30 * frac)
            sys.stderr.write("\r" + _("[{bar}] {n}/{total} communities  {elapsed:5.0f} s  eta {eta:5.0f} s").format(
                bar=f"{bar:<30}", n=self.n, total=self.total, elapsed=el, eta=eta))  # fmt: skip
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
