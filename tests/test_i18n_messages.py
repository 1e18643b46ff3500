"""What a planner reads when an input is wrong, in Simplified Chinese under ``--lang zh``.

Every defect class of the validation tests (:mod:`test_validate`) is raised again through the
real entry points (:func:`gridgeo.validate.load_district`, ``gridgeo validate``) under Chinese:
each message must hold Chinese, still name the same file and feature id as in English, and leave
no English sentence behind (only ids, codes, column names, CRS names and numbers may be Latin).
The same holds for the code checks (``validate_code``, ``gridgeo codes``), the config file and the
code registry. English stays the English of the code.
"""

from __future__ import annotations

import re

import pytest
from test_validate import ERRORS, WARNINGS, district_files, write_config

from gridgeo import i18n
from gridgeo.cli import main
from gridgeo.coding import CodeRegistry, get_scheme, validate_code
from gridgeo.errors import CodeError, InputError, RegistryError
from gridgeo.validate import load_district

HAN = re.compile(r"[\u4e00-\u9fff]")
#: Words of an English sentence. What may stay Latin in a Chinese message is data: ids, codes,
#: column and layer names (households, landuse_class), CRS names, file names, numbers.
ENGLISH = re.compile(
    r"\b(?:the|is|are|has|have|not|must|give|use|and|with|of|in|from|to|be|cannot|should|"
    r"layer|column|file|feature|missing|duplicate|unknown|empty|invalid|geometry|building|"
    r"community|grid|code|digits?)\b"
)


@pytest.fixture
def zh():
    i18n.set_language("zh")
    yield
    i18n.set_language("en")


#: Data a message quotes, in any language: a library's own reason (GDAL's after "读取：", the
#: decoder's after "字节处"), quoted values, lists of names (the file's columns, the classes) and
#: command-line options.
DATA = (
    re.compile(r"读取：.*$"),
    re.compile(r"字节处 [^）]*"),
    re.compile(r"'[^']*'|\"[^\"]*\""),
    re.compile(r"[\w./-]+(?:, [\w./-]+)+"),
    re.compile(r"--[\w.-]+(?:=\S*)?"),  # command-line options (--skip-unknown-landuse, --map a=b)
)


def _data_free(message: str, *data: object) -> str:
    """The message without the data it quotes (file labels, ids, values, library reasons)."""
    for d in data:
        if d:
            message = message.replace(str(d), " ")
    for pattern in DATA:
        message = pattern.sub(" ", message)
    return message


def _assert_chinese(message: str, *data: object) -> None:
    assert HAN.search(message), message
    left = _data_free(message, *data)
    assert not ENGLISH.search(left), (ENGLISH.search(left).group(0), message)


def _problems(case, tmp_path):
    tmp_path.mkdir()
    sources, _ = ERRORS[case](tmp_path)
    with pytest.raises(InputError) as info:
        load_district(sources)
    return sources, info.value.problems



@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_input_error_is_in_chinese_and_still_located(case, tmp_path, zh):
    i18n.set_language("en")
    _, english = _problems(case, tmp_path / "en")
    i18n.set_language("zh")
    sources, chinese = _problems(case, tmp_path / "zh")
    # The same problems, located the same way: only the sentence changed language.
    def where(problems, root):
        return [(p.source.replace(str(root), ""), p.feature_id) for p in problems]

    assert where(chinese, tmp_path / "zh") == where(english, tmp_path / "en")
    assert [p.message for p in chinese] != [p.message for p in english]
    labels = [s.label for s in sources.values()] + [str(s.path) for s in sources.values()]
    for p in chinese:
        _assert_chinese(p.message, *labels, p.feature_id)


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_every_input_warning_is_in_chinese_and_still_located(case, tmp_path, zh):
    w = WARNINGS[case](tmp_path)
    findings = load_district(w.sources).findings
    hit = findings[findings["source"] == w.sources[w.layer].label]
    assert len(hit), findings[["rule", "source", "feature_id"]]
    if w.feature_id is not None:
        assert w.feature_id in set(hit["feature_id"])
    for message, fid in zip(hit["message"], hit["feature_id"], strict=True):
        # A repaired polygon quotes GEOS's reason ("Self-intersection[x y]"): data, not a sentence.
        _assert_chinese(re.sub(r"（[A-Z][\w -]*\[[^\]]*\]）", " ", message), fid)


def test_cli_prints_chinese_problems_naming_file_and_id(tmp_path, capsys):
    sources, _ = ERRORS["duplicate_building_id"](tmp_path)
    config = write_config(sources, tmp_path / "district.toml")
    assert main(["--lang", "zh", "validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("gridgeo validate: 错误") or "错误" in lines[0], lines[0]
    hit = [ln for ln in lines if str(sources["buildings"].path) in ln and re.search(r"\[编号 B\d+\]", ln)]
    assert hit and "building_id 重复" in hit[0], lines
    # The same run in English still says it in English.
    assert main(["--lang", "en", "validate", str(config)]) == 2
    assert "duplicate building_id (rows" in capsys.readouterr().err


BAD_CONFIGS = {
    "unknown key": ("[layers.buildings]\npath = 'b.gpkg'\ncolums = { households = 'hh' }\n", "未知的键 'colums'",
                    "unknown key 'colums'"),
    "not TOML": ("[layers.buildings\npath = 'b.gpkg'\n", "不是有效的 TOML 配置文件", "not a valid TOML config"),
    "no layers": ("[options]\nskip_unknown_landuse = true\n", "没有 [layers.*] 表", "has no [layers.*] table"),
    "bad option": ("[layers.buildings]\npath = 'b.gpkg'\n[options]\nskip_unknown_landuse = 'yes'\n",
                   "必须为 true 或 false", "must be true or false"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_config_errors_in_both_languages(name, tmp_path, capsys):
    text, chinese, english = BAD_CONFIGS[name]
    sources = district_files(tmp_path)
    config = tmp_path / "district.toml"
    if name == "bad option":
        text = write_config(sources, tmp_path / "ok.toml").read_text(encoding="utf-8") + text.split("\n", 2)[2]
    config.write_text(text, encoding="utf-8")
    assert main(["--lang", "zh", "validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(config) in err and chinese in err, err
    assert main(["--lang", "en", "validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert english in err and not HAN.search(err.replace("户数", "")), err


BAD_CODES = {
    "too short": "37020302600210010",
    "spaces and letters": " 3702030260021001x00",
    "no province": "9900000000003001000",
    "street itself": "3702030260001001000",
    "class reserved": "3702030260025001000",
    "serial zero": "3702030260021000000",
}


@pytest.mark.parametrize("name", sorted(BAD_CODES))
def test_validate_code_explains_in_chinese(name, zh):
    code = BAD_CODES[name]
    problems = validate_code(code)
    assert problems
    for sentence in problems:
        _assert_chinese(sentence, code.strip())
    i18n.set_language("en")
    assert all(not HAN.search(s) for s in validate_code(code))


def test_validate_code_of_a_number_in_chinese(zh):
    (sentence,) = validate_code(3702030260021001000)
    _assert_chinese(sentence, "3702030260021001000", "int")


def test_codes_command_in_chinese(capsys):
    assert main(["--lang", "zh", "codes", "validate", "3702030260021001000", "37020302600250010"]) == 1
    out = capsys.readouterr().out
    assert "3702030260021001000：有效" in out and "37020302600250010：无效" in out
    assert "有 17 个字符" in out
    assert main(["--lang", "en", "codes", "validate", "37020302600250010"]) == 1
    assert "has 17 characters" in capsys.readouterr().out


def test_scheme_and_registry_errors_in_chinese(tmp_path, zh):
    with pytest.raises(CodeError) as info:
        get_scheme("gridgeo-20")
    _assert_chinese(str(info.value), "gridgeo-20", "gridgeo-19", "beijing-db11", "cjt-349-2010", ".toml/.json")
    empty = tmp_path / "registry.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(RegistryError) as info:
        CodeRegistry(empty)
    assert str(empty) in str(info.value)
    _assert_chinese(str(info.value), empty)


def test_unknown_layer_name_in_chinese(tmp_path, zh):
    sources = district_files(tmp_path)
    sources["parks"] = sources["buildings"]
    with pytest.raises(InputError) as info:
        load_district(sources)
    (problem,) = [p for p in info.value.problems if "parks" in p.message]
    _assert_chinese(problem.message)


def test_an_english_run_after_a_chinese_one_is_english(tmp_path):
    i18n.set_language("zh")
    i18n.set_language("en")
    sources, _ = ERRORS["missing_households_column"](tmp_path)
    with pytest.raises(InputError) as info:
        load_district(sources)
    assert "missing column(s) households" in str(info.value) and "缺少字段" not in str(info.value)


def test_grid_layer_problems_of_assign_in_chinese(zh):
    import geopandas as gpd
    from shapely.geometry import box

    from gridgeo.coding import assign_codes

    grids = gpd.GeoDataFrame(
        {"grid_id": ["G1", "G1", "G3"], "community_code": ["370203026002", "370203026002", "370203026000"],
         "grid_class": ["community", "community", "park"]},
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10), None], crs="EPSG:4549",
    )  # fmt: skip
    with pytest.raises(InputError) as info:
        assign_codes(grids)
    located = {p.feature_id for p in info.value.problems}
    assert {"G1", "G3"} <= located, [str(p) for p in info.value.problems]
    for p in info.value.problems:
        _assert_chinese(p.message, p.feature_id, "grid_id", "grid_class", "community_code")


@pytest.mark.parametrize("workers", [1, 2])
def test_partition_notes_in_chinese_in_process_and_on_dask(workers, zh):
    """The community notes a run prints (band widened, a village below the band) follow the
    language, on Dask workers too (each a process of its own)."""
    from gridgeo.batch import run_partition
    from gridgeo.options import PartitionOptions
    from gridgeo.testing import make_district

    district = make_district(0, street="370211108000", n_communities=4)
    report = run_partition(district, options=PartitionOptions(time_limit=0.05), workers=workers).result.report
    notes = [n for n in report["notes"] if n]
    assert notes, "the villages below the band have a note"
    for note in notes:
        _assert_chinese(note, *district.communities["community_code"], *[u for u in re.findall(r"\d{12}-U\d+", note)])
