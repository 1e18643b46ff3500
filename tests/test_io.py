"""Reading and writing: the four formats, Chinese column names, configs, atomic writes."""

from __future__ import annotations

import json
import os

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import box

from gridgeo import io as gio
from gridgeo.cli import main
from gridgeo.errors import InputError
from gridgeo.io import (
    LayerSource,
    parse_mapping,
    read_config,
    read_layer,
    rename_columns,
    write_layer,
    write_layers,
    write_table,
    write_text,
)
from gridgeo.validate import load_district

GK = "EPSG:4549"
X0, Y0 = 532_400.0, 3_996_700.0
CODES = ("370203026002", "370203026004")


def buildings(n: int = 4) -> gpd.GeoDataFrame:
    """Footprints in the first community, with Chinese names."""
    return gpd.GeoDataFrame(
        {
            "building_id": [f"B{i}" for i in range(n)],
            "households": [30 + i for i in range(n)],
            "residents": [80 + i for i in range(n)],
            "name": [f"南山小区{i + 1}号楼" for i in range(n)],
        },
        geometry=[box(X0 + 40 + 60 * i, Y0 + 100, X0 + 80 + 60 * i, Y0 + 140) for i in range(n)],
        crs=GK,
    )


def communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"community_code": list(CODES), "name": ["南山社区", "阜康社区"]},
        geometry=[box(X0, Y0, X0 + 400, Y0 + 400), box(X0 + 400, Y0, X0 + 800, Y0 + 400)],
        crs=GK,
    )


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------------
# Reading


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".fgb"])
def test_read_each_format(suffix, tmp_path):
    bld = buildings()
    path = tmp_path / f"buildings{suffix}"
    # Shapefile field names hold 10 bytes: the Chinese names gridgeo knows without a mapping.
    on_disk = bld.rename(
        columns={"building_id": "id", "households": "户数", "residents": "人口", "name": "名称"}
    )
    on_disk.to_file(path, encoding="UTF-8" if suffix == ".shp" else None)
    got = read_layer(LayerSource(path), "buildings")
    assert got.attrs["source"] == str(path)
    assert got.crs.equals(bld.crs)
    got = got.sort_values("building_id", ignore_index=True)  # FlatGeobuf stores in index order
    assert_geodataframe_equal(got[bld.columns], bld, check_dtype=False, normalize=True)


@pytest.mark.parametrize("cpg", [True, False], ids=["with_cpg", "without_cpg"])
def test_shapefile_utf8_chinese_attributes(cpg, tmp_path):
    path = tmp_path / "楼栋.shp"
    buildings().rename(
        columns={"building_id": "id", "households": "户数", "residents": "人口", "name": "名称"}
    ).to_file(path, encoding="UTF-8")
    assert path.with_suffix(".cpg").exists()
    if not cpg:  # Chinese desktop GIS often drops the .cpg: UTF-8 is then assumed
        path.with_suffix(".cpg").unlink()
    got = read_layer(LayerSource(path), "buildings")
    assert list(got["households"]) == [30, 31, 32, 33]
    assert list(got["residents"]) == [80, 81, 82, 83]
    assert got["name"].iloc[2] == "南山小区3号楼" and got["building_id"].iloc[2] == "B2"


def test_gbk_shapefile_with_cpg_reads_chinese(tmp_path):
    path = tmp_path / "buildings.shp"
    buildings().rename(columns={"building_id": "id", "households": "户数", "name": "名称"}).to_file(
        path, encoding="GBK"
    )
    assert path.with_suffix(".cpg").read_text().strip().upper() in {"GBK", "CP936"}
    got = read_layer(LayerSource(path), "buildings")
    assert got["name"].iloc[0] == "南山小区1号楼" and got["households"].iloc[0] == 30


def test_geopackage_alias_columns_without_mapping(tmp_path):
    path = tmp_path / "district.gpkg"
    communities().rename(columns={"community_code": "社区代码", "name": "社区名称"}).to_file(
        path, layer="社区"
    )
    got = read_layer(LayerSource(path, "社区"), "communities")
    assert list(got["community_code"]) == list(CODES) and list(got["name"]) == [
        "南山社区",
        "阜康社区",
    ]


def _mapped_files(tmp_path):
    """Shapefiles whose columns are not aliases: 社区码, 住户数, 人口数, 楼号.

    The buildings file also has a stale 户数 column (an alias) and a stale ``households``
    column: a mapping must win over both.
    """
    com = communities().rename(columns={"community_code": "社区码", "name": "名称"})
    com.to_file(tmp_path / "社区.shp", encoding="UTF-8")
    bld = buildings().rename(columns={"building_id": "楼号", "residents": "人口数", "name": "名称"})
    bld["住户数"] = [50, 60, 70, 80]
    bld["户数"] = 1
    bld = bld.rename(columns={"households": "households"})  # stale, canonical name
    bld["households"] = 2
    bld.to_file(tmp_path / "楼栋.shp", encoding="UTF-8")
    return tmp_path / "社区.shp", tmp_path / "楼栋.shp"


def test_column_mapping_via_config(tmp_path):
    com, bld = _mapped_files(tmp_path)
    config = tmp_path / "district.toml"
    config.write_text(
        "[layers.communities]\n"
        'path = "社区.shp"\n'
        'columns = { community_code = "社区码" }\n'
        "[layers.buildings]\n"
        'path = "楼栋.shp"\n'
        'columns = { households = "住户数", residents = "人口数", building_id = "楼号" }\n',
        encoding="utf-8",
    )
    sources = read_config(config)
    assert sources["buildings"].path == bld and sources["communities"].path == com
    district = load_district(sources)
    assert list(district.buildings["households"]) == [50, 60, 70, 80]
    assert list(district.buildings["residents"]) == [80, 81, 82, 83]
    assert list(district.buildings["community_code"]) == [CODES[0]] * 4
    assert list(district.communities["community_code"]) == list(CODES)


def test_column_mapping_via_cli_map(tmp_path, capsys):
    com, bld = _mapped_files(tmp_path)
    argv = ["validate", "--communities", str(com), "--buildings", str(bld),
            "--map", "communities.community_code=社区码", "--map", "buildings.households=住户数",
            "--map", "buildings.residents=人口数", "--map", "buildings.building_id=楼号",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", dtype={"community_code": str})
    total = summary.set_index("community_code").loc["TOTAL"]
    assert (total["buildings"], total["households"], total["residents"]) == (4, 260, 326)
    assert "TOTAL" in capsys.readouterr().out


def test_cli_map_without_layer_applies_to_every_layer_that_knows_it(tmp_path):
    com, bld = _mapped_files(tmp_path)
    argv = ["validate", "--communities", str(com), "--buildings", str(bld),
            "--map", "community_code=社区码", "--map", "households=住户数", "--map", "residents=人口数",
            "--map", "building_id=楼号"]  # fmt: skip
    assert main(argv) == 0


def test_cli_map_for_a_layer_not_given(tmp_path, capsys):
    com, bld = _mapped_files(tmp_path)
    argv = [
        "validate",
        "--communities",
        str(com),
        "--buildings",
        str(bld),
        "--map",
        "landuse.landuse_class=类型",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--map: layer 'landuse' is mapped but not given" in err and "Traceback" not in err


def test_mapping_missing_column_names_file_and_columns(tmp_path):
    path = tmp_path / "buildings.gpkg"
    buildings().to_file(path)
    with pytest.raises(InputError) as info:
        read_layer(LayerSource(path, columns={"households": "HH_2020"}), "buildings")
    (p,) = info.value.problems
    assert p.source == str(path) and "'HH_2020'" in p.message and "building_id" in p.message


def test_rename_columns_leaves_input_alone():
    bld = buildings().rename(columns={"households": "户数"})
    before = bld.copy()
    out = rename_columns(bld, "buildings", {"residents": "residents"})
    assert_geodataframe_equal(bld, before)
    assert "households" in out.columns and "户数" not in out.columns


# --------------------------------------------------------------------------------------------
# Configs and --map


CONFIG_ERRORS = {
    "bad_toml": ("[layers.communities\npath = 'x.gpkg'\n", "not a valid TOML config"),
    "not_utf8": (
        "[layers.communities]\npath = '社区.gpkg'\n".encode("gbk"),
        "not a valid TOML config",
    ),
    "unknown_layer": ("[layers.parks]\npath = 'p.gpkg'\n", "unknown layer 'parks'"),
    "unknown_column": (
        "[layers.buildings]\npath = 'b.gpkg'\ncolumns = { floors = '层数' }\n",
        "unknown column 'floors'",
    ),
    "no_path": ("[layers.buildings]\nlayer = 'buildings'\n", "needs a 'path'"),
    "no_layers": ("title = 'district'\n", "no [layers.*] table"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_name_the_config(case, tmp_path, capsys):
    text, words = CONFIG_ERRORS[case]
    config = tmp_path / "district.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_config(config)
    assert any(p.source == str(config) and words in p.message for p in info.value.problems)
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert words in err and str(config) in err and "Traceback" not in err


def test_config_collects_every_problem(tmp_path):
    config = tmp_path / "district.toml"
    config.write_text(
        "[layers.parks]\npath = 'p.gpkg'\n[layers.buildings]\npath = 'b.gpkg'\n"
        "columns = { floors = '层数', households = '户数' }\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        read_config(config)
    assert len(info.value.problems) == 2


def test_config_not_found(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    with pytest.raises(InputError, match="config file not found"):
        read_config(missing)
    assert main(["validate", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: config file not found" in err and "Traceback" not in err


def test_config_paths_are_relative_to_the_config(tmp_path, monkeypatch):
    (tmp_path / "cfg").mkdir()
    config = tmp_path / "cfg" / "district.toml"
    config.write_text(
        "[layers.buildings]\npath = '../data/b.gpkg'\nlayer = 'bld'\ncolumns = { households = '户数' }\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    src = read_config(config)["buildings"]
    assert src.path == tmp_path / "cfg" / ".." / "data" / "b.gpkg"
    assert (src.layer, src.columns) == ("bld", {"households": "户数"})
    assert src.label == f"{src.path}:bld"


def test_parse_mapping_forms():
    got = parse_mapping(["buildings.households=户数", "residents=人口", "communities.name=村名"])
    assert got == {
        "buildings": {"households": "户数"},
        "*": {"residents": "人口"},
        "communities": {"name": "村名"},
    }
    assert parse_mapping(None) == {}


def test_parse_mapping_collects_every_bad_entry():
    with pytest.raises(InputError) as info:
        parse_mapping(["households", "parks.name=名称", "buildings.floors=层数", "households=户数"])
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 3 and all(p.source == "--map" for p in info.value.problems)
    assert "not canonical=column" in messages[0]
    assert "unknown layer 'parks'" in messages[1]
    assert "unknown column 'floors'" in messages[2]


# --------------------------------------------------------------------------------------------
# Writing: atomic, byte-identical, round-trip


def _failing_writer(monkeypatch, exc, *, after: int = 0):
    """Make pyogrio's writer fail on call number ``after`` (0-based), once it wrote something."""
    real = pyogrio.write_dataframe
    calls = []

    def write(df, path, **kwargs):
        real(df, path, **kwargs)  # a partial file exists on disk when the failure comes
        calls.append(path)
        if len(calls) > after:
            raise exc

    monkeypatch.setattr(gio.pyogrio, "write_dataframe", write)


@pytest.mark.parametrize(
    "exc", [RuntimeError("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"]
)
@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".fgb", ".shp"])
def test_failed_write_layer_leaves_no_partial_file(suffix, exc, tmp_path, monkeypatch):
    _failing_writer(monkeypatch, exc)
    with pytest.raises(type(exc)):
        write_layer(buildings().rename(columns={"building_id": "id"}), tmp_path / f"grids{suffix}")
    assert listing(tmp_path) == []


def test_failed_rewrite_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "grids.gpkg"
    write_layer(buildings(), target, layer="grids")
    before = target.read_bytes()
    _failing_writer(monkeypatch, RuntimeError("disk full"))
    with pytest.raises(RuntimeError):
        write_layer(buildings(2), target, layer="grids")
    assert target.read_bytes() == before and listing(tmp_path) == ["grids.gpkg"]


def test_write_layers_is_all_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "district.gpkg"
    _failing_writer(monkeypatch, RuntimeError("disk full"), after=1)  # the second layer fails
    with pytest.raises(RuntimeError):
        write_layers({"communities": communities(), "buildings": buildings()}, target)
    assert listing(tmp_path) == []


def test_write_table_and_text_failures_leave_nothing(tmp_path, monkeypatch):
    def to_csv(self, path, **kwargs):
        with open(path, "w") as fh:
            fh.write("community_code,househ")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(OSError):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "summary.csv")
    assert listing(tmp_path) == []
    write_text("覆盖证明\n", tmp_path / "coverage.md")
    assert (tmp_path / "coverage.md").read_text(encoding="utf-8") == "覆盖证明\n"
    assert listing(tmp_path) == ["coverage.md"]


def test_write_layer_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="unknown output format"):
        write_layer(buildings(), tmp_path / "grids.kmz")


def test_geopackage_round_trip(tmp_path):
    layers = {"communities": communities(), "buildings": buildings()}
    path = write_layers(layers, tmp_path / "district.gpkg")
    assert listing(tmp_path) == ["district.gpkg"]
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["buildings", "communities"]
    for name, gdf in layers.items():
        back = pyogrio.read_dataframe(path, layer=name)
        assert_geodataframe_equal(back, gdf, check_dtype=False)
    # Read back through gridgeo, the files validate as a district.
    district = load_district({n: LayerSource(path, n) for n in layers})
    assert (
        len(district.findings) == 0 and list(district.buildings["community_code"]) == [CODES[0]] * 4
    )


def test_geopackage_writes_are_byte_identical(tmp_path):
    layers = {"communities": communities(), "buildings": buildings()}
    a = write_layers(layers, tmp_path / "a.gpkg").read_bytes()
    b = write_layers(layers, tmp_path / "b.gpkg").read_bytes()
    assert a == b


def test_write_layers_reprojects_to_the_crs_asked(tmp_path):
    path = write_layers({"communities": communities()}, tmp_path / "c.gpkg", crs=4490)
    back = pyogrio.read_dataframe(path, layer="communities")
    assert back.crs.to_epsg() == 4490
    assert_geodataframe_equal(
        back, communities().to_crs(4490), check_dtype=False, check_less_precise=True
    )


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".fgb", ".shp"])
def test_write_layer_round_trip(suffix, tmp_path):
    out = tmp_path / "new" / f"buildings{suffix}"
    bld = buildings()
    write_layer(bld.rename(columns={"building_id": "id"}), out)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    assert pyogrio.list_layers(out)[0, 0] == "buildings"  # not the temporary file's name
    back = read_layer(LayerSource(out), "buildings").sort_values("building_id", ignore_index=True)
    assert_geodataframe_equal(back[bld.columns], bld, check_dtype=False, normalize=True)
    if suffix == ".geojson":
        assert (
            json.loads(out.read_text(encoding="utf-8"))["features"][0]["properties"]["name"]
            == "南山小区1号楼"
        )


def test_atomic_path_cleans_up_after_failure(tmp_path):
    target = tmp_path / "x.txt"
    with pytest.raises(ValueError), gio.atomic_path(target) as tmp:
        tmp.write_text("half")
        (tmp.parent / (tmp.name + "-journal")).write_text("sqlite journal")
        raise ValueError("boom")
    assert listing(tmp_path) == []
    assert not os.path.exists(target)


# -- hostile configs, faults and concurrency (issue 17) ---------------------------------------

SAMPLE_TOML = "[layers.communities]\npath = 'c.gpkg'\n\n[layers.buildings]\npath = 'b.gpkg'\n"


def test_config_with_utf8_bom_is_read(tmp_path):
    config = tmp_path / "district.toml"
    config.write_bytes(b"\xef\xbb\xbf" + SAMPLE_TOML.encode("utf-8"))
    sources = read_config(config)
    assert sources["communities"].path == tmp_path / "c.gpkg"
    assert sources["buildings"].path == tmp_path / "b.gpkg"


HOSTILE_CONFIGS = {
    "path_not_text": ("[layers.communities]\npath = 123\n", "'path'", None),
    "columns_not_table": (
        "[layers.buildings]\npath = 'b.gpkg'\ncolumns = \"households\"\n", "'columns'", None
    ),
    "misspelled_key": (
        "[layers.buildings]\npath = 'b.gpkg'\ncolums = { households = 'HH' }\n",
        "'colums'",
        "'columns'",
    ),
    "misspelled_layer": ("[layers.building]\npath = 'b.gpkg'\n", "'building'", "'buildings'"),
    "misspelled_column": (
        "[layers.buildings]\npath = 'b.gpkg'\ncolumns = { househols = 'HH' }\n",
        "'househols'",
        "'households'",
    ),
    "misspelled_section": (
        "[layer.buildings]\npath = 'b.gpkg'\n[layers.communities]\npath = 'c.gpkg'\n",
        "'layer'",
        "'layers'",
    ),
    "column_not_text": (
        "[layers.buildings]\npath = 'b.gpkg'\ncolumns = { households = 7 }\n", "households", None
    ),
    "layer_not_text": ("[layers.buildings]\npath = 'b.gpkg'\nlayer = 3\n", "'layer'", None),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_bad_config_values_name_the_file_and_the_key(case, tmp_path, capsys):
    text, key, suggestion = HOSTILE_CONFIGS[case]
    config = tmp_path / "district.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_config(config)
    hits = [p for p in info.value.problems if p.source == str(config) and key in p.message]
    assert hits, info.value
    if suggestion:
        assert any(f"did you mean {suggestion}" in p.message for p in hits)
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "Traceback" not in err


def test_atomic_writers_remove_stale_temps_of_a_dead_run(tmp_path):
    # What a run killed in the middle of writing grids.gpkg leaves: the temp file and its journal.
    stale = [tmp_path / ".grids.k3j9x0a1.gpkg", tmp_path / ".grids.k3j9x0a1.gpkg-journal"]
    dead = tmp_path / f".grids.{_dead_pid()}-0a1b2c3d.gpkg"
    live = tmp_path / f".grids.{os.getpid()}-0a1b2c3d.gpkg"  # a live writer's: kept
    other = tmp_path / ".grids.old.1234-0a1b2c3d.gpkg"  # another target's name: kept
    for f in (*stale, dead, live, other):
        f.write_bytes(b"half written")
    write_layers({"grids": buildings()}, tmp_path / "grids.gpkg")
    assert not any(f.exists() for f in (*stale, dead))
    assert live.exists() and other.exists()
    assert pyogrio.read_dataframe(tmp_path / "grids.gpkg", layer="grids").shape[0] == 4


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


@pytest.mark.parametrize("writer", ["layers", "layer", "table", "text"])
def test_disk_full_is_a_clear_error_and_the_target_untouched(writer, tmp_path, monkeypatch):
    import errno

    from gridgeo.errors import GridgeoError

    target = tmp_path / {"layers": "grids.gpkg", "layer": "grids.geojson", "table": "t.csv",
                         "text": "coverage.md"}[writer]  # fmt: skip
    target.write_bytes(b"previous run")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pyogrio, "write_dataframe", full)
    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    monkeypatch.setattr(type(tmp_path), "write_text", full)
    write = {
        "layers": lambda: write_layers({"grids": buildings()}, target),
        "layer": lambda: write_layer(buildings(), target),
        "table": lambda: write_table(pd.DataFrame({"a": [1]}), target),
        "text": lambda: write_text("# coverage", target),
    }[writer]
    with pytest.raises(GridgeoError, match="disk is full") as info:
        write()
    assert str(target) in str(info.value)
    monkeypatch.undo()
    assert target.read_bytes() == b"previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_output_lock_refuses_a_second_writer_naming_the_holder(tmp_path):
    import subprocess
    import sys

    from gridgeo.errors import GridgeoError

    out = tmp_path / "out"
    script = ("import sys, time\nfrom gridgeo.io import output_lock\n"
              "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(30)\n")  # fmt: skip
    holder = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GridgeoError) as info:
            with gio.output_lock(out):
                pass
        assert f"process {holder.pid}" in str(info.value) and str(out) in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # The holder died without cleaning up: its lock file (holding its pid) is taken over.
    assert (out / gio.LOCK_NAME).read_text().strip() == str(holder.pid)
    with gio.output_lock(out) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert not (out / gio.LOCK_NAME).exists()


def test_output_lock_takes_over_a_stale_lock_file(tmp_path):
    (tmp_path / gio.LOCK_NAME).write_text(f"{_dead_pid()}\n")
    with gio.output_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(Exception, match=f"process {os.getpid()}"):
            with gio.output_lock(tmp_path):
                pass


def test_output_lock_on_an_unwritable_folder_is_a_clear_error(tmp_path):
    from gridgeo.errors import GridgeoError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(GridgeoError, match="cannot be written"):
        with gio.output_lock(blocker / "out"):
            pass


def test_check_not_input_refuses_outputs_that_are_or_hold_an_input(tmp_path):
    out = tmp_path / "D"
    out.mkdir()
    source = out / "grids.gpkg"
    source.write_bytes(b"input")
    other = tmp_path / "input.gpkg"
    other.write_bytes(b"input")
    shp = tmp_path / "shp" / "communities.shp"
    shp.parent.mkdir()
    shp.write_bytes(b"x")
    link = tmp_path / "alias.gpkg"
    link.symlink_to(other)
    inputs = [source, other, shp]
    cases = {
        "out folder holds an input": [out],
        "registry is an input": [other],
        "registry is an input through a symlink": [link],
        "folder above an input": [tmp_path],
        "shapefile sidecar": [shp.with_suffix(".dbf")],
    }
    for what, targets in cases.items():
        with pytest.raises(InputError) as info:
            gio.check_not_input(targets, inputs)
        assert info.value.problems[0].source == str(targets[0]), what
    # Other folders and files are fine, as is a registry beside the inputs.
    gio.check_not_input([tmp_path / "E", tmp_path / "E" / "registry.sqlite", out / "registry.sqlite", None], inputs)
    assert source.read_bytes() == b"input" and other.read_bytes() == b"input"


# -- files the office opens (issue 18) ---------------------------------------------------------


def _grid_like() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"grid_code": ["3702030260041001000", "3702030260041002000"],
         "community_code": ["370203026004", "370203026004"], "community_name": ["阜康社区", "阜康社区"],
         "dedicated_class": ["", "school"], "households": [410, 388], "residents": [1020, 990],
         "n_buildings": [7, 6], "solver_status": ["optimal", "optimal"]},
        geometry=[box(532_400, 3_996_700, 532_800, 3_997_000), box(532_800, 3_996_700, 533_200, 3_997_000)],
        crs="EPSG:4549",
    )  # fmt: skip


def test_csv_has_a_bom_for_excel_and_reads_back(tmp_path):
    df = pd.DataFrame({"grid_code": ["3702030260041001000"], "社区": ["阜康社区"]})
    path = gio.write_table(df, tmp_path / "t.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "阜康社区".encode() in raw
    back = pd.read_csv(path, dtype=str)
    assert list(back.columns) == ["grid_code", "社区"] and back.iloc[0, 0] == "3702030260041001000"


def test_kml_is_a_file_and_round_trips(tmp_path):
    g = _grid_like()
    path = gio.write_layer(g, tmp_path / "grids.kml")
    assert path.is_file() and path.read_bytes().startswith(b"<?xml")
    back = pyogrio.read_dataframe(path)
    assert back.crs.to_epsg() == 4326 and len(back) == 2
    assert list(back["Name"]) == list(g["grid_code"])  # what 奥维 / Google Earth label a placemark by
    assert list(back["community_name"]) == ["阜康社区", "阜康社区"]
    assert back.to_crs(g.crs).geometry.iloc[0].symmetric_difference(g.geometry.iloc[0]).area < 1.0
    again = tmp_path / "again" / "grids.kml"
    assert gio.write_layer(g, again).read_bytes() == path.read_bytes()


def test_gbk_shapefile_with_declared_short_names_round_trips(tmp_path, recwarn):
    g = _grid_like()
    path = gio.write_layer(g, tmp_path / "网格.shp", encoding="GBK")
    assert path.with_suffix(".cpg").read_text().strip() == "GBK"
    assert "阜康社区".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    assert not [w for w in recwarn if "truncated" in str(w.message).lower() or "normalized" in str(w.message).lower()]
    back = pyogrio.read_dataframe(path)
    assert list(back.columns) == ["grid_code", "comm_code", "comm_name", "ded_class", "households",
                                  "residents", "n_bldgs", "solver", "geometry"]  # fmt: skip
    assert list(back["comm_name"]) == ["阜康社区", "阜康社区"] and back["grid_code"].iloc[1] == "3702030260041002000"
    utf8 = gio.write_layer(g, tmp_path / "u" / "grids.shp")
    assert pyogrio.read_dataframe(utf8)["comm_name"].iloc[0] == "阜康社区"
    with pytest.raises(InputError, match="encoding"):
        gio.write_layer(g, tmp_path / "x.shp", encoding="latin-1")


def test_long_unknown_field_names_are_cut_uniquely():
    g = _grid_like().assign(population_total=1, population_totals=2)
    names = [c for c in gio.shapefile_fields(g).columns if c != "geometry"]
    assert all(len(n.encode()) <= 10 for n in names) and len(set(names)) == len(names)


def test_unknown_suffix_is_refused_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="unknown output format"):
        gio.write_layer(_grid_like(), tmp_path / "grids.xyz")
    assert not (tmp_path / "grids.xyz").exists()


def test_geopackage_carries_chinese_aliases_and_an_optional_qgis_style(tmp_path):
    import sqlite3

    g = _grid_like()
    plain = gio.write_layers({"grids": g}, tmp_path / "a.gpkg")
    with sqlite3.connect(plain) as con:
        aliases = dict(con.execute("SELECT column_name, name FROM gpkg_data_columns WHERE table_name='grids'"))
        ext = con.execute("SELECT extension_name FROM gpkg_extensions WHERE table_name='gpkg_data_columns'").fetchall()
    assert aliases["grid_code"] == "网格编码" and aliases["households"] == "户数" and ext == [("gpkg_schema",)]
    assert [n for n, _ in pyogrio.list_layers(plain)] == ["grids"]
    styled = gio.write_layers({"grids": g}, tmp_path / "s.gpkg", style=True)
    with sqlite3.connect(styled) as con:
        (qml, default), = con.execute("SELECT styleQML, useAsDefault FROM layer_styles WHERE f_table_name='grids'")
    assert default == 1 and 'name="网格编码"' in qml and "SimpleFill" in qml
    assert_geodataframe_equal(gpd.read_file(styled, layer="grids"), gpd.read_file(plain, layer="grids"))
    again = gio.write_layers({"grids": g}, tmp_path / "t" / "s.gpkg", style=True)
    assert again.read_bytes() == styled.read_bytes()


def test_mixed_findings_split_one_geometry_type_per_layer(tmp_path):
    from shapely.geometry import Point

    f = gpd.GeoDataFrame({"rule": ["R5", "R1", "R2"]},
                         geometry=[Point(532_500, 3_996_800), box(532_400, 3_996_700, 532_800, 3_997_000),
                                   Point(532_600, 3_996_800)], crs="EPSG:4549")  # fmt: skip
    parts = gio.by_geometry_type("findings", f)
    assert set(parts) == {"findings_points", "findings_polygons"}
    assert list(parts["findings_points"]["rule"]) == ["R5", "R2"]
    path = gio.write_layers(parts, tmp_path / "f.gpkg")
    kinds = dict((n, t) for n, t in pyogrio.list_layers(path))
    assert kinds == {"findings_points": "Point", "findings_polygons": "Polygon"}
    assert gio.by_geometry_type("findings", f.iloc[[0, 2]]).keys() == {"findings"}
