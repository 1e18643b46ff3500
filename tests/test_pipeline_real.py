"""The main job on real footprints (momepy's Bubeneč), with the reading options of a config file."""

from __future__ import annotations

import pyogrio
import pytest

from gridgeo.cli import main
from gridgeo.errors import InputError
from gridgeo.io import read_config_options, write_layers, write_text
from gridgeo.synth import bubenec_layers

TIME = 0.05


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    layers = bubenec_layers(seed=0)
    b = layers["buildings"]
    # Half the buildings come without household counts, as OSM footprints do.
    layers["buildings"] = b.drop(columns=["households_estimated"]).assign(
        households=b["households"].where(b.index % 2 == 0), residents=b["residents"].where(b.index % 2 == 0))
    write_layers(layers, folder / "real.gpkg")
    return folder, layers


def _config(folder, options: str = "") -> str:
    text = "".join(f'[layers.{n}]\npath = "real.gpkg"\nlayer = "{n}"\n\n' for n in ("communities", "buildings",
                                                                                     "landuse", "roads"))  # fmt: skip
    path = folder / "real.toml"
    write_text(text + options, path)
    return str(path)


def test_without_counts_the_run_is_refused_with_located_errors(real, tmp_path, capsys):
    folder, _ = real
    rc = main(["run", _config(folder), "--out", str(tmp_path / "o"), "--time-limit", str(TIME)])
    err = capsys.readouterr().err
    assert rc == 2 and "households is missing" in err and "Traceback" not in err


def test_config_options_estimate_counts_and_floor_sites(real, tmp_path, capsys):
    folder, layers = real
    cfg = _config(folder, '[options]\ndedicated_floor_m2 = { school = 1e9 }\n\n'
                          '[options.estimate_households]\nfloor_area_m2 = 70\nlevels_column = "levels"\n')  # fmt: skip
    rc = main(["run", cfg, "--out", str(tmp_path / "o"), "--time-limit", str(TIME), "--date", "2026-01-01"])
    out = capsys.readouterr().out
    assert rc == 0, out
    b = __import__("pandas").read_csv(tmp_path / "o" / "building_grid.csv")
    assert b["grid_id"].notna().all() and (b["households"] >= 0).all()
    assert b["households_estimated"].any() and not b["households_estimated"].all()
    import pandas as pd

    gpkg = tmp_path / "o" / "grids.gpkg"
    names = [n for n, _ in pyogrio.list_layers(gpkg) if n.startswith("findings")]
    findings = pd.concat([pyogrio.read_dataframe(gpkg, layer=n) for n in names], ignore_index=True)
    school = layers["landuse"].loc[layers["landuse"]["landuse_class"] == "school", "landuse_id"]
    r4 = findings[(findings["rule"] == "R4") & findings["feature_id"].isin(set(school))]
    assert len(r4) >= 1 and r4.geometry.notna().all()
    assert "R4:" in out
    grids = pyogrio.read_dataframe(tmp_path / "o" / "grids.gpkg", layer="grids")
    assert not (grids["dedicated_class"] == "school").any()


def test_flags_override_the_config(real, tmp_path):
    folder, _ = real
    cfg = _config(folder)
    rc = main(["run", cfg, "--out", str(tmp_path / "o"), "--time-limit", str(TIME), "--estimate-households",
               "--dedicated-floor", "学校=1e9"])  # fmt: skip
    assert rc == 0
    grids = pyogrio.read_dataframe(tmp_path / "o" / "grids.gpkg", layer="grids")
    assert not (grids["dedicated_class"] == "school").any() and (grids["dedicated_class"] == "park").any()


def test_bad_options_table_names_the_key(real):
    folder, _ = real
    cfg = _config(folder, "[options]\nskip_unknown_landus = true\n")
    with pytest.raises(InputError, match="did you mean 'skip_unknown_landuse'"):
        read_config_options(cfg)


def test_census_table_counts_are_checked_like_building_counts(tmp_path):
    from gridgeo.validate import read_census

    good = tmp_path / "good.csv"
    good.write_text("\ufeffcommunity_code,households,residents\n370203026002,1200,3100\n", encoding="utf-8")
    df = read_census(good)
    assert df["community_code"].tolist() == ["370203026002"] and df["households"].tolist() == [1200]
    bad = tmp_path / "bad.csv"
    bad.write_text("community_code,households,residents\n370203026002,inf,10\n370203026004,-3,2.5\n"
                   "370203026005,,7\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError) as info:
        read_census(bad)
    where = {(p.feature_id, p.message.split(" is ")[0]) for p in info.value.problems}
    assert {("370203026002", "households"), ("370203026004", "households"), ("370203026004", "residents"),
            ("370203026005", "households")} <= where  # fmt: skip
    assert all(p.source == str(bad) for p in info.value.problems)


def test_cost_options_from_the_config_and_the_flags(real, tmp_path):
    # The config sets the three unit options; a flag wins over the config for its own option.
    from gridgeo.cli import _options, build_parser

    folder, _ = real
    cfg = _config(folder, "[options]\nroad_discount = 0.5\nblock_cost = 8\nsite_margin_m = 0\n")
    args = build_parser().parse_args(["run", cfg, "--out", str(tmp_path / "o"), "--block-cost", "2"])
    units = _options(args).units
    assert (units.road_discount, units.block_cost, units.site_margin_m) == (0.5, 2.0, 0)


def test_site_margin_flag_reaches_the_grids(real, tmp_path):
    # The park of the corpus is drawn 1 m inside its streets: with the default margin (3 m) that
    # strip is in the park's dedicated grid; with --site-margin 0 it is not.
    folder, _ = real
    cfg = _config(folder)
    areas = []
    for margin in ("3", "0"):
        out = tmp_path / margin
        rc = main(["run", cfg, "--out", str(out), "--time-limit", str(TIME), "--estimate-households",
                   "--site-margin", margin, "--no-map"])  # fmt: skip
        assert rc == 0
        grids = pyogrio.read_dataframe(out / "grids.gpkg", layer="grids").to_crs(3857)
        areas.append(grids.loc[grids["dedicated_class"] == "park"].area.sum())
    assert areas[0] > areas[1] + 100  # the ~1,100 m ribbon, 1 m wide


@pytest.mark.parametrize(("flag", "value", "said"), [("--road-discount", "1.5", "from 0 to 1"),
                                                     ("--block-cost", "0.5", "at least 1"),
                                                     ("--site-margin", "nan", "at least 0")])  # fmt: skip
def test_bad_cost_flag_is_refused_before_anything_is_written(real, tmp_path, capsys, flag, value, said):
    folder, _ = real
    rc = main(["--lang", "en", "run", _config(folder), "--out", str(tmp_path / "o"), flag, value])
    err = capsys.readouterr().err
    assert rc == 2 and flag in err and said in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_cost_option_in_the_config_names_the_file_and_key(real):
    folder, _ = real
    cfg = _config(folder, '[options]\nblock_cost = "high"\nroad_discount = -0.1\n')
    with pytest.raises(InputError) as info:
        read_config_options(cfg)
    said = [(p.source, p.message) for p in info.value.problems]
    assert [s for s, _ in said] == [cfg, cfg]
    assert any("block_cost" in m for _, m in said) and any("road_discount" in m for _, m in said)
