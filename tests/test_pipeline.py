"""gridgeo.pipeline: one job for the command line and the notebooks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from gridgeo import pipeline
from gridgeo.cli import main
from gridgeo.errors import InputError
from gridgeo.io import write_layers, write_text
from gridgeo.options import Band, PartitionOptions
from gridgeo.synth import community_frame, generate_layers

TIME = 0.05
DATE = "2026-01-01"
#: Differ between identical runs by design: wall times (partition_report.csv) and the issue
#: timestamps of the registry.
VOLATILE = {"registry.sqlite"}


def _layers(seed: int = 3, scale: float = 0.3):
    frame = community_frame(["370203026000"], seed=seed).sort_values("community_code").head(3)
    return generate_layers(frame.reset_index(drop=True), seed=seed, scale=scale)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    layers = _layers()
    write_layers(layers, folder / "d.gpkg")
    write_text("".join(f'[layers.{n}]\npath = "d.gpkg"\nlayer = "{n}"\n\n' for n in layers), folder / "d.toml")
    return folder / "d.toml"


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.name in VOLATILE:
            continue
        data = p.read_bytes()
        if p.name == "partition_report.csv":
            data = pd.read_csv(p).drop(columns=["wall_s"]).to_csv(index=False).encode()
        out[p.name] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def runs(inputs, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    lib = pipeline.run(inputs, base / "lib", options=PartitionOptions(time_limit=TIME), date=DATE)
    rc = main(["run", str(inputs), "--out", str(base / "cli"), "--time-limit", str(TIME), "--date", DATE])
    return base, lib, rc


def test_pipeline_and_cli_write_identical_files(runs):
    base, lib, rc = runs
    assert rc == 0 and lib.ok
    assert set(pipeline.OUTPUTS) | {"registry.sqlite"} == {p.name for p in (base / "lib").iterdir()}
    assert _digest(base / "lib") == _digest(base / "cli")


def test_result_carries_every_stage(runs):
    _, lib, _ = runs
    assert list(lib.timings) == ["read", "units+partition", "coverage", "codes", "write"]
    assert all(t >= 0 for t in lib.timings.values())
    assert lib.coverage.ok
    assert lib.grids["grid_code"].str.len().eq(19).all()
    assert set(lib.codes["grid_id"]) == set(lib.partition.grids["grid_id"])
    # Every building is in exactly one grid, and every grid is in the written layer.
    assert lib.partition.buildings["building_id"].is_unique
    assert lib.partition.buildings["grid_id"].notna().all()
    assert len(lib.units.units) == len(lib.partition.assignment)


def test_run_in_memory_writes_nothing(inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    district = pipeline.load_inputs(inputs)
    res = pipeline.run(district, options=PartitionOptions(time_limit=TIME), date=DATE)
    assert res.written == [] and res.registry is None
    assert list(tmp_path.iterdir()) == []
    assert res.coverage.ok


def test_rerun_writes_what_run_writes_and_the_changes(runs, inputs, tmp_path):
    base, lib, _ = runs
    layers = _layers()
    b = layers["buildings"]
    layers["buildings"] = b.assign(households=b["households"].where(b.index % 7 != 0, b["households"] + 3))
    write_layers(layers, tmp_path / "d.gpkg")
    write_text(inputs.read_text(), tmp_path / "d.toml")
    before = hashlib.sha256((base / "lib" / "registry.sqlite").read_bytes()).hexdigest()
    res = pipeline.rerun(tmp_path / "d.toml", base / "lib", tmp_path / "out",
                         options=PartitionOptions(time_limit=TIME), date="2026-02-01")  # fmt: skip
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert set(pipeline.OUTPUTS) | set(pipeline.RERUN_OUTPUTS) <= names
    assert res.ok and (res.changes["status"] != "unchanged").any()
    # The previous folder's registry is not written: the re-run works on its own copy.
    assert hashlib.sha256((base / "lib" / "registry.sqlite").read_bytes()).hexdigest() == before
    # Units, unit table and report cover every community, changed or not.
    assert set(res.partition.report["community_code"]) == set(res.grids["community_code"])
    assert set(res.partition.assignment["grid_id"]) == set(res.grids["grid_id"])


@pytest.mark.parametrize(
    "args",
    [
        ["--lower", "600", "--upper", "500"],
        ["--lower", "0", "--upper", "0"],
        ["--time-limit", "nan"],
        ["--time-limit", "-1"],
        ["--seed", "-1"],
        ["--workers", "0"],
    ],
)
def test_bad_options_exit_2_with_a_message(inputs, tmp_path, capsys, args):
    rc = main(["run", str(inputs), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert "error" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_band_validates_itself():
    with pytest.raises(InputError):
        Band(500, 300)
    with pytest.raises(InputError):
        Band(300, 500, "people")
    with pytest.raises(InputError):
        Band(True, 500)
    assert Band.of(measure="residents") == Band(800, 1200, "residents")
    assert PartitionOptions.of(upper=450).band == Band(300, 450)
    with pytest.raises(InputError):
        PartitionOptions(time_limit=float("inf"))


def test_outputs_and_registry_never_replace_an_input(inputs, tmp_path, capsys):
    gpkg = inputs.parent / "d.gpkg"
    before = hashlib.sha256(gpkg.read_bytes()).hexdigest()
    assert main(["run", str(inputs), "--out", str(inputs.parent), "--time-limit", str(TIME)]) == 2
    assert main(["run", str(inputs), "--out", str(tmp_path / "o"), "--registry", str(gpkg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(gpkg.name) in err
    assert hashlib.sha256(gpkg.read_bytes()).hexdigest() == before
    assert not (tmp_path / "o").exists()


def test_one_writer_per_output_folder(inputs, tmp_path):
    from gridgeo.errors import GridgeoError
    from gridgeo.io import output_lock

    with output_lock(tmp_path / "o"), pytest.raises(GridgeoError, match="another gridgeo run"):
        pipeline.run(inputs, tmp_path / "o", options=PartitionOptions(time_limit=TIME))
    assert not (tmp_path / "o" / "grids.gpkg").exists()


def test_codes_become_visible_only_with_the_outputs(inputs, tmp_path, monkeypatch):
    from gridgeo.coding import CodeRegistry

    reg = tmp_path / "reg.sqlite"

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_outputs", broken)
    with pytest.raises(OSError):
        pipeline.run(inputs, tmp_path / "o", options=PartitionOptions(time_limit=TIME), registry=reg, date=DATE)
    with CodeRegistry(reg, read_only=True) as r:
        assert len(r.codes()) == 0
    monkeypatch.undo()
    res = pipeline.run(inputs, tmp_path / "o", options=PartitionOptions(time_limit=TIME), registry=reg, date=DATE)
    with CodeRegistry(reg, read_only=True) as r:
        assert set(r.codes(status="active")["code"]) == set(res.grids["grid_code"])


def test_a_failed_write_leaves_the_previous_outputs(runs, inputs, tmp_path, monkeypatch):
    import shutil

    import gridgeo.export.maps as maps

    base, _, _ = runs
    out = tmp_path / "o"
    shutil.copytree(base / "lib", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(maps, "write_map", broken)
    with pytest.raises(OSError):
        pipeline.run(inputs, out, options=PartitionOptions(time_limit=TIME, seed=5), date="2026-03-01")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_quiet_and_log(inputs, tmp_path, capsys):
    log = tmp_path / "run.log"
    rc = main(["--quiet", "--log", str(log), "validate", str(inputs)])
    assert rc == 0 and capsys.readouterr().out == ""
    text = log.read_text(encoding="utf-8")
    assert "findings" in text and "TOTAL" in text


def test_ctrl_c_during_the_partition_ends_the_run_and_replaces_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "qingdao_sample.toml"
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "gridgeo", "--lang", "en", "run", str(sample), "--out", str(out),
                             "--time-limit", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # The read line comes first; the partition of 53 communities takes many seconds after it.
        assert proc.stdout.readline().startswith("read ")
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert took < 30
    assert not (out / "grids.gpkg").exists() and not (out / ".gridgeo.lock").exists()
