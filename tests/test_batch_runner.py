"""run_partition: the same grids as partition_district, in-process or on Dask, resumable."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from gridgeo.batch import run_community, run_partition
from gridgeo.options import Band, PartitionOptions
from gridgeo.partition import partition_district

#: Three communities of 阜新路街道 (about 5,300 households): 002 and 004 both border 017.
CODES = ["370203026002", "370203026004", "370203026017"]
OPTS = PartitionOptions(time_limit=0.05)
BROKEN = "370203026004"


def _fail_one(sub, options):
    """A per-community task that fails for one community (module level: Dask pickles it)."""
    if sub.communities["community_code"].iloc[0] == BROKEN:
        raise RuntimeError("boom: solver process died")
    return run_community(sub, options)


@pytest.fixture(scope="module")
def small(sample_district):
    return sample_district.subset(CODES)


@pytest.fixture(scope="module")
def reference(small):
    return partition_district(small, time_limit=OPTS.time_limit, seed=OPTS.seed)


def assert_same_partition(got, want):
    """Grids, units and the unit/building tables are equal."""
    assert_geodataframe_equal(got.grids, want.grids)
    assert_geodataframe_equal(got.units.units, want.units.units)
    pd.testing.assert_frame_equal(got.assignment, want.assignment)
    pd.testing.assert_frame_equal(got.buildings, want.buildings)


def _only(result, codes):
    """The rows of ``codes``' communities, re-indexed."""
    g = result.grids[result.grids["community_code"].isin(codes)].reset_index(drop=True)
    return g


def test_in_process_equals_partition_district(small, reference, capsys):
    batch = run_partition(small, options=OPTS, progress=True)
    assert batch.failures.empty
    assert batch.from_checkpoint == 0
    assert_same_partition(batch.result, reference)
    assert "3/3 communities" in capsys.readouterr().err


def test_local_dask_cluster_equals_in_process(small, reference):
    batch = run_partition(small, options=OPTS, workers=2)
    assert batch.failures.empty
    assert_same_partition(batch.result, reference)


def test_failing_community_is_reported_on_dask_and_the_others_go_on(small, reference, tmp_path):
    batch = run_partition(small, options=OPTS, workers=2, task=_fail_one, checkpoint_dir=tmp_path)
    assert batch.failures["community_code"].tolist() == [BROKEN]
    assert "RuntimeError: boom" in batch.failures["error"].iloc[0]
    others = [c for c in CODES if c != BROKEN]
    assert sorted(batch.result.grids["community_code"].unique()) == others
    assert_geodataframe_equal(batch.result.grids, _only(reference, others))
    # The failed community was not checkpointed: a resumed run computes only it.
    again = run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    assert again.from_checkpoint == len(others)
    assert again.failures.empty
    assert_same_partition(again.result, reference)


def test_failing_community_in_process(small, reference):
    batch = run_partition(small, options=OPTS, task=_fail_one)
    assert batch.failures["community_code"].tolist() == [BROKEN]
    others = [c for c in CODES if c != BROKEN]
    assert_geodataframe_equal(batch.result.grids, _only(reference, others))


def test_each_community_is_cut_out_when_its_turn_comes(small, monkeypatch):
    # Memory stays bounded: the driver does not hold every community's inputs at once.
    import gridgeo.batch.runner as runner

    cut: list[str] = []
    real = runner.community_subsets

    def counting(district, codes=None):
        for code, sub in real(district, codes):
            cut.append(code)
            yield code, sub

    seen: list[list[str]] = []

    def task(sub, options):
        seen.append(list(cut))
        return run_community(sub, options)

    monkeypatch.setattr(runner, "community_subsets", counting)
    run_partition(small, options=OPTS, task=task)
    assert seen == [CODES[: i + 1] for i in range(len(CODES))]


def test_dask_chunks_are_cut_lazily():
    # Chunks for the Dask workers are formed as they are sent: an endless stream works.
    import itertools
    from types import SimpleNamespace

    from gridgeo.batch.runner import _chunks

    pulled = []

    def stream():
        for i in itertools.count():
            pulled.append(i)
            yield (f"c{i}", SimpleNamespace(buildings=range(400)), "")

    chunks = _chunks(stream(), 1500, 16)
    first, second = next(chunks), next(chunks)
    assert [c for c, _, _ in first] == ["c0", "c1", "c2", "c3"]  # 1,600 buildings >= 1,500
    assert [c for c, _, _ in second] == ["c4", "c5", "c6", "c7"]
    assert pulled == list(range(9))  # one item read ahead, nothing more
    small = _chunks(((f"s{i}", SimpleNamespace(buildings=[]), "") for i in range(40)), 1500, 16)
    assert [len(c) for c in small] == [16, 16, 8]  # at most 16 communities a chunk


def test_checkpoint_resumes_without_recomputing(small, reference, tmp_path):
    first = run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    assert first.from_checkpoint == 0
    assert sorted(p.stem for p in tmp_path.glob("*.pkl")) == CODES

    def refuse(sub, options):
        raise AssertionError("a checkpointed community was computed again")

    second = run_partition(small, options=OPTS, checkpoint_dir=tmp_path, task=refuse)
    assert second.from_checkpoint == len(CODES)
    assert second.failures.empty
    assert_same_partition(second.result, reference)


def test_changed_community_is_recomputed_others_from_checkpoint(small, tmp_path):
    run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    b = small.buildings.copy()
    first = b.index[b["community_code"] == "370203026017"][0]
    b.loc[first, "households"] += 5
    changed = dataclasses.replace(small, buildings=b)
    batch = run_partition(changed, options=OPTS, checkpoint_dir=tmp_path)
    assert batch.from_checkpoint == len(CODES) - 1
    assert_same_partition(
        batch.result, partition_district(changed, time_limit=OPTS.time_limit, seed=OPTS.seed)
    )
    g = batch.result.grids
    assert g.loc[g["community_code"] == "370203026017", "households"].sum() == (
        small.buildings.loc[small.buildings["community_code"] == "370203026017", "households"].sum()
        + 5
    )


def test_other_options_do_not_reuse_the_checkpoint(small, tmp_path):
    run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    batch = run_partition(
        small, options=dataclasses.replace(OPTS, band=Band(300, 480)), checkpoint_dir=tmp_path
    )
    assert batch.from_checkpoint == 0
    com = batch.result.grids[batch.result.grids["grid_class"] == "community"]
    assert com["households"].max() <= 480


def test_damaged_checkpoint_is_recomputed(small, reference, tmp_path):
    run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    (tmp_path / f"{CODES[0]}.pkl").write_bytes(b"\x80\x05 not a pickle")
    (tmp_path / f"{CODES[1]}.pkl").write_bytes(b"")
    batch = run_partition(small, options=OPTS, checkpoint_dir=tmp_path)
    assert batch.from_checkpoint == 1
    assert batch.failures.empty
    assert_same_partition(batch.result, reference)
    # ... and written again.
    assert run_partition(small, options=OPTS, checkpoint_dir=tmp_path).from_checkpoint == 3
