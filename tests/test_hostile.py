"""Hostile but fair use of the real command line (issue 17), fuzzed with hypothesis.

Damaged configs, odd values in the layers, odd option values and damaged registries go
through ``gridgeo.cli.main`` for the commands that exist (validate, map, boards, codes,
coverage). Whatever the input, a user relies on four things: the exit status is 0, 1 or 2;
no traceback (an exception escaping ``main``) reaches them; the input files are byte for
byte what they were; and nothing is written outside ``--out``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box

from gridgeo.cli import main

GK = "EPSG:4549"
X0, Y0 = 532_400.0, 3_996_700.0
CODES = ("370203026002", "370203026004")
GRID_CODES = ("3702030260021001000", "3702030260041001000")

FUZZ = settings(max_examples=12, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip

#: Text a hostile but fair user might put anywhere: markup, mathtext, paths, odd digits.
HOSTILE_TEXT = st.sampled_from([
    '<img src=x onerror="alert(1)">', "</script><script>alert(2)</script>", r"$\foo{x}$", r"$\alpha$",
    "../../../x", "..", "/etc/passwd", "C:\\x", "３７０２０３０２６００２", "٣٧٠", "370203026002",
    "", " ", "\x00", "名称\n第二行", "Robert'); DROP TABLE codes;--", "%s%s%n", "{0}", "a" * 300,
]) | st.text(max_size=20)  # fmt: skip


def _communities(names=("甲", "乙"), codes=CODES) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"community_code": list(codes), "name": list(names)},
                            geometry=[box(X0 + i * 400, Y0, X0 + (i + 1) * 400, Y0 + 400) for i in range(2)],
                            crs=GK)  # fmt: skip


def _buildings(households=None) -> gpd.GeoDataFrame:
    hh = [350, 360, 340, 330] if households is None else households
    return gpd.GeoDataFrame(
        {"building_id": [f"B{i}" for i in range(4)], "households": hh, "residents": [900, 910, 920, 930]},
        geometry=[box(X0 + 40 + 200 * i, Y0 + 100, X0 + 80 + 200 * i, Y0 + 140) for i in range(4)], crs=GK,
    )  # fmt: skip


def _grids(names=("甲", "乙"), codes=GRID_CODES, communities=CODES) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"grid_id": ["g1", "g2"], "grid_code": list(codes), "community_code": list(communities),
         "community_name": list(names), "grid_class": ["community", "community"],
         "households": [350, 340], "residents": [900, 920]},
        geometry=[box(X0 + i * 400, Y0, X0 + (i + 1) * 400, Y0 + 400) for i in range(2)], crs=GK,
    )  # fmt: skip


CONFIG = """[layers.communities]
path = "communities.gpkg"

[layers.buildings]
path = "buildings.gpkg"
columns = { households = "households" }
"""


def _staff_csv(path: Path, grid_codes=GRID_CODES, names=("王伟", "李娜")) -> None:
    rows = ["grid_code,name,phone,role,worker_id,duties,photo"]
    rows += [f"{c},{json.dumps(n, ensure_ascii=False)},138-0000-000{i},full_time,W{i},巡查,"
             for i, (c, n) in enumerate(zip(grid_codes, names, strict=True))]  # fmt: skip
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A valid district, grid layer, staff table and registry: each example copies it."""
    d = tmp_path_factory.mktemp("hostile")
    _communities().to_file(d / "communities.gpkg")
    _buildings().to_file(d / "buildings.gpkg")
    (d / "district.toml").write_text(CONFIG, encoding="utf-8")
    _grids().to_file(d / "grids.gpkg", layer="grids")
    _staff_csv(d / "staff.csv")
    assert main(["codes", "assign", str(d / "grids.gpkg"), "--registry", str(d / "registry.sqlite"),
                 "--out", str(d / "coded.gpkg"), "--date", "2026-01-01"]) == 0  # fmt: skip
    return d


class Sandbox:
    """A copy of the inputs in a fresh folder; ``run`` checks the four promises."""

    def __init__(self, base: Path) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hostile-"))
        self.inputs = self.root / "in"
        shutil.copytree(base, self.inputs)
        self.out = self.root / "out"

    def snapshot(self) -> dict[str, str]:
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.root.rglob("*")) if p.is_file() and not p.is_relative_to(self.out)}  # fmt: skip

    def run(self, argv: list[str]) -> tuple[int, str]:
        before = self.snapshot()
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse refusing an option: exit 2 with its usage line
                code = exc.code if isinstance(exc.code, int) else 2
        stderr = err.getvalue()
        assert code in (0, 1, 2), (argv, code, stderr)
        assert "Traceback" not in stderr, stderr
        # Inputs byte-identical, and nothing new outside --out.
        assert self.snapshot() == before, argv
        return code, stderr

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def sandbox(base: Path):
    box_ = Sandbox(base)
    try:
        yield box_
    finally:
        box_.close()


# -- damaged configs ---------------------------------------------------------------------------

TOML_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.sampled_from(["inf", "nan", "-inf", "true", "false", "[]", "[1, 2]", "{}", "{ a = 1 }", "1979-05-27",
                     '"households"', '""', '"../../../etc/passwd"', '"communities.gpkg"']),
    HOSTILE_TEXT.map(json.dumps),
)  # fmt: skip
KEYS = st.sampled_from(["path", "layer", "columns", "colums", "Path", "paths", "households", "layers"])


@st.composite
def damaged_configs(draw) -> bytes:
    lines = CONFIG.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["value", "key", "line", "bytes", "bom"]))
        i = draw(st.integers(0, len(lines) - 1))
        if how == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=")[0] + "= " + draw(TOML_VALUES)
        elif how == "key":
            lines.insert(i, f"{draw(KEYS)} = {draw(TOML_VALUES)}")
        elif how == "line":
            del lines[i]
    data = "\n".join(lines).encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=6)) + data[at:]
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@FUZZ
@given(config=damaged_configs())
def test_damaged_configs(base, config):
    with sandbox(base) as sb:
        path = sb.inputs / "district.toml"
        path.write_bytes(config)
        sb.run(["validate", str(path), "--out", str(sb.out)])
        sb.run(["map", str(sb.inputs / "grids.gpkg"), "--inputs", str(path), "--out", str(sb.out / "map.html")])


# -- odd values in the layers --------------------------------------------------------------------

COUNTS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    HOSTILE_TEXT,
    st.none(),
)


@FUZZ
@given(households=st.lists(COUNTS, min_size=4, max_size=4), names=st.lists(HOSTILE_TEXT, min_size=2, max_size=2),
       code=HOSTILE_TEXT)  # fmt: skip
def test_odd_values_in_the_layers(base, households, names, code):
    with sandbox(base) as sb:
        bld = _buildings(np.array(households, dtype=object))
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in households):
            bld["households"] = bld["households"].astype(float)
        bld.to_file(sb.inputs / "buildings.gpkg")
        _communities(names=names, codes=(code or CODES[0], CODES[1])).to_file(sb.inputs / "communities.gpkg")
        sb.run(["validate", str(sb.inputs / "district.toml"), "--out", str(sb.out)])


@FUZZ
@given(names=st.lists(HOSTILE_TEXT, min_size=2, max_size=2), code=HOSTILE_TEXT, community=HOSTILE_TEXT)
def test_odd_values_reach_maps_and_boards(base, names, code, community):
    with sandbox(base) as sb:
        codes = (code or "x", GRID_CODES[1]) if code != GRID_CODES[1] else GRID_CODES
        grids = sb.inputs / "grids.gpkg"
        _grids(names=names, codes=codes, communities=(community, CODES[1])).to_file(grids, layer="grids")
        _staff_csv(sb.inputs / "staff.csv", grid_codes=codes, names=names)
        sb.run(["map", str(grids), "--out", str(sb.out / "map.html")])
        sb.run(["boards", str(grids), "--staff", str(sb.inputs / "staff.csv"), "--out", str(sb.out / "boards"),
                "--dpi", "10", "--no-png"])  # fmt: skip


# -- odd option values -------------------------------------------------------------------------

OPTION_VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-1", "0", "1e400", "99999999999999999999", "", "abc", "10"]),
    st.integers(-(2**40), 2**40).map(str),
)


@FUZZ
@given(option=st.sampled_from(["--dpi", "--cap", "--max-grids", "--time-limit", "--seed", "--paper", "--street",
                               "--layer", "--supervision-phone"]), value=OPTION_VALUES | HOSTILE_TEXT)  # fmt: skip
def test_odd_options(base, option, value):
    with sandbox(base) as sb:
        grids = str(sb.inputs / "grids.gpkg")
        sb.run(["boards", grids, "--staff", str(sb.inputs / "staff.csv"), "--out", str(sb.out), "--no-png",
                "--dpi", "10", option, value])  # fmt: skip
        if option in ("--layer",):
            sb.run(["map", grids, "--out", str(sb.out / "map.html"), option, value])


# -- codes and registries ------------------------------------------------------------------------

@st.composite
def damaged_registries(draw) -> bytes | None:
    how = draw(st.sampled_from(["empty", "pages", "truncate", "junk", "gpkg"]))
    return None if how == "gpkg" else {"empty": b"", "junk": draw(st.binary(min_size=1, max_size=200))}.get(how, how.encode())


@FUZZ
@given(damage=damaged_registries(), code=HOSTILE_TEXT | st.sampled_from(GRID_CODES), offset=st.integers(0, 10**6))
def test_codes_commands_and_damaged_registries(base, damage, code, offset):
    with sandbox(base) as sb:
        registry = sb.inputs / "registry.sqlite"
        data = registry.read_bytes()
        if damage == b"pages":
            at = 4096 + offset % max(1, len(data) - 4096)
            registry.write_bytes(data[:at] + b"\xff" * 512 + data[at + 512:])
        elif damage == b"truncate":
            registry.write_bytes(data[: offset % len(data)])
        elif damage is None:
            registry = sb.inputs / "grids.gpkg"  # an input that is a SQLite file, not a registry
        else:
            registry.write_bytes(damage)
        for argv in (["codes", "history", code or "x", "--registry", str(registry)],
                     ["codes", "validate", code or "x"], ["codes", "parse", code or "x"],
                     ["codes", "recode", CODES[0], code or "x", "--registry", str(registry)],
                     ["codes", "assign", str(sb.inputs / "grids.gpkg"), "--registry", str(registry),
                      "--out", str(sb.out / "coded.gpkg"), "--date", "2026-01-02"]):  # fmt: skip
            sb.run(argv)


@FUZZ
@given(config=damaged_configs(), dept=st.sampled_from(["none", "line", "empty", "junk"]))
def test_coverage_commands(base, config, dept):
    from shapely.geometry import LineString

    with sandbox(base) as sb:
        cfg = sb.inputs / "district.toml"
        cfg.write_bytes(config)
        police = sb.inputs / "police.gpkg"
        if dept == "junk":
            police.write_bytes(b"not a geopackage")
        else:
            geoms = {"none": [None, box(X0, Y0, X0 + 400, Y0 + 400)], "line": [LineString([(X0, Y0), (X0 + 9, Y0)])] * 2,
                     "empty": [box(X0, Y0, X0 + 400, Y0 + 400)] * 2}[dept]  # fmt: skip
            gpd.GeoDataFrame({"grid_id": ["P1", "P2"]}, geometry=geoms, crs=GK).to_file(police)
        grids = str(sb.inputs / "grids.gpkg")
        sb.run(["coverage", "merge", grids, f"police={police}", "--out", str(sb.out / "merge")])
        sb.run(["coverage", "check", grids, str(cfg), "--out", str(sb.out / "check")])


def test_hostile_paths_stay_inside_out_and_outputs_never_replace_inputs(base):
    """The cases of the issue, one by one (not fuzzed): traversal, inputs as outputs."""
    with sandbox(base) as sb:
        grids = sb.inputs / "grids.gpkg"
        _grids(codes=("../../../x", GRID_CODES[1]), communities=("../../../x", CODES[1])).to_file(grids, layer="grids")
        _staff_csv(sb.inputs / "staff.csv", grid_codes=("../../../x", GRID_CODES[1]))
        assert sb.run(["boards", str(grids), "--staff", str(sb.inputs / "staff.csv"), "--out", str(sb.out),
                       "--dpi", "10"])[0] == 0  # fmt: skip
        assert {p.parent for p in sb.out.rglob("*")} == {sb.out}
        assert sb.run(["map", str(grids), "--out", str(grids)])[0] == 2
        assert sb.run(["codes", "history", GRID_CODES[0], "--registry", str(grids)])[0] == 2
        assert sb.run(["codes", "assign", str(grids), "--registry", str(grids), "--out", str(sb.out / "c.gpkg")])[0] == 2


@FUZZ
@given(layer=st.sampled_from(["communities.gpkg", "buildings.gpkg", "grids.gpkg"]),
       how=st.sampled_from(["truncate", "scribble", "empty"]), offset=st.integers(0, 10**6))  # fmt: skip
def test_damaged_layer_files(base, layer, how, offset):
    with sandbox(base) as sb:
        path = sb.inputs / layer
        data = path.read_bytes()
        at = offset % len(data)
        damaged = {"truncate": data[:at], "empty": b"",
                   "scribble": data[:at] + b"\x00\xff" * 256 + data[at + 512:]}[how]  # fmt: skip
        path.write_bytes(damaged)
        sb.run(["validate", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        sb.run(["map", str(sb.inputs / "grids.gpkg"), "--inputs", str(sb.inputs / "district.toml"),
                "--out", str(sb.out / "map.html")])  # fmt: skip


# -- non-finite coordinates (issue 17) -------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
@pytest.mark.parametrize("layer", ["buildings", "communities"])
def test_non_finite_coordinate_is_a_located_input_error(base, layer, bad):
    with sandbox(base) as sb:
        gdf = _buildings() if layer == "buildings" else _communities()
        g = gdf.geometry.iloc[1]
        coords = list(g.exterior.coords)
        coords[1] = (bad, coords[1][1])
        coords[-1] = coords[0]
        gdf.loc[gdf.index[1], "geometry"] = Polygon(coords)
        gdf.to_file(sb.inputs / f"{layer}.gpkg")
        code, stderr = sb.run(["run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert code == 2, stderr
        assert "non-finite coordinate" in stderr
        assert f"{layer}.gpkg" in stderr
        fid = "B1" if layer == "buildings" else CODES[1]
        assert fid in stderr


# -- area-changing repairs (issue 17) --------------------------------------------------------------


def _damage_building(sb: Sandbox, polygon: Polygon) -> None:
    bld = _buildings()
    bld.loc[bld.index[1], "geometry"] = polygon
    bld.to_file(sb.inputs / "buildings.gpkg")


def test_hole_outside_its_shell_is_refused_with_the_area_it_would_add(base):
    x, y = X0 + 240, Y0 + 100
    shell = [(x, y), (x + 40, y), (x + 40, y + 40), (x, y + 40)]
    hole = [(x + 60, y), (x + 80, y), (x + 80, y + 20), (x + 60, y + 20)]  # 400 m² beside the shell
    with sandbox(base) as sb:
        _damage_building(sb, Polygon(shell, [hole]))
        code, stderr = sb.run(["run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert code == 2, stderr
        assert "B1" in stderr and "buildings.gpkg" in stderr
        assert "would add 400.00 m² of land" in stderr


def test_bow_tie_of_no_added_land_is_repaired_with_a_warning(base):
    x, y = X0 + 240, Y0 + 100
    bow_tie = Polygon([(x, y), (x + 40, y + 40), (x + 40, y), (x, y + 40)])
    with sandbox(base) as sb:
        _damage_building(sb, bow_tie)
        code, stderr = sb.run(["validate", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert "would add" not in stderr
        assert code == 0, stderr


# -- a point building on a shared border (issue 17) ------------------------------------------------


@pytest.mark.parametrize("where", [(X0 + 400, Y0 + 200), (X0 + 400, Y0 + 400)], ids=["edge", "vertex"])
def test_point_on_a_shared_border_goes_to_the_lowest_community_code(base, where):
    from shapely.geometry import Point

    with sandbox(base) as sb:
        bld = _buildings()
        bld.loc[bld.index[1], "geometry"] = Point(where)
        bld.to_file(sb.inputs / "buildings.gpkg")
        code, stderr = sb.run(["run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert "outside every community" not in stderr and "no grid" not in stderr
        assert code in (0, 1), stderr
        rows = (sb.out / "building_grid.csv").read_text(encoding="utf-8-sig")
        line = next(r for r in rows.splitlines() if r.startswith("B1,"))
        assert min(CODES) in line, line


# -- longitude/latitude declared as a metric CRS (issue 17) ----------------------------------------


def test_lonlat_declared_metric_gives_one_located_crs_hint(base):
    with sandbox(base) as sb:
        bld = _buildings()
        bld = gpd.GeoDataFrame(bld.drop(columns="geometry"), crs=GK,
                               geometry=[box(120.30 + 0.001 * i, 36.06, 120.3005 + 0.001 * i, 36.0605) for i in range(4)])  # fmt: skip
        bld.to_file(sb.inputs / "buildings.gpkg")
        code, stderr = sb.run(["run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert code == 2, stderr
        assert stderr.count("look like longitude/latitude") == 1, stderr
        assert "buildings.gpkg" in stderr and "EPSG:4490" in stderr
        assert "outside every community" not in stderr


def test_validation_error_in_chinese_keeps_file_and_feature_id(base):
    from gridgeo.i18n import set_language

    with sandbox(base) as sb:
        bld = _buildings()
        coords = list(bld.geometry.iloc[1].exterior.coords)
        coords[1] = (float("inf"), coords[1][1])
        bld.loc[bld.index[1], "geometry"] = Polygon(coords)
        bld.to_file(sb.inputs / "buildings.gpkg")
        try:
            code, stderr = sb.run(["--lang", "zh", "run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        finally:
            set_language("en")
        assert code == 2, stderr
        assert "非有限坐标" in stderr, stderr
        assert "buildings.gpkg" in stderr and "B1" in stderr


# -- a footprint reaching into the next community (issue 17) ---------------------------------------


def test_building_spilling_into_the_next_community_is_proved_where_it_is_counted(base):
    """Most of B1 lies in 002, its point on the whole footprint in 004: the proof and
    building_grid.csv must both count it in 002's grid (before: REFUTED, 360 households off)."""
    x, y = X0, Y0
    reach = shapely.union_all([box(x + 100, y + 10, x + 390, y + 150), box(x + 380, y + 150, x + 390, y + 250),
                               box(x + 380, y + 195, x + 790, y + 205), box(x + 100, y + 250, x + 390, y + 390)])  # fmt: skip
    assert shapely.point_on_surface(reach).x > X0 + 400  # the whole footprint's point is in 004
    with sandbox(base) as sb:
        _damage_building(sb, reach)
        code, stderr = sb.run(["run", str(sb.inputs / "district.toml"), "--out", str(sb.out)])
        assert code == 0, stderr
        coverage = (sb.out / "coverage.md").read_text(encoding="utf-8")
        assert coverage.startswith("# Coverage proof: PROVED"), coverage
        rows = (sb.out / "building_grid.csv").read_text(encoding="utf-8-sig").splitlines()
        grid_of_b1 = next(r for r in rows if r.startswith("B1,")).split(",")[1]
        assert grid_of_b1.startswith(CODES[0])
        grids = gpd.read_file(sb.out / "grids.gpkg", layer="grids")
        assert int(grids.loc[grids["grid_id"] == grid_of_b1, "households"].iloc[0]) == 350 + 360
