"""Code schemes: presets, files, malformed definitions."""

from __future__ import annotations

import json

import pytest

from gridgeo.coding import SCHEMES, CodeScheme, get_scheme, validate_code
from gridgeo.errors import CodeError


def test_presets_have_their_published_lengths():
    assert get_scheme().name == "gridgeo-19"
    assert get_scheme().length == 19
    assert SCHEMES["beijing-db11"].length == 15
    assert SCHEMES["cjt-349-2010"].length == 20
    for sch in SCHEMES.values():
        assert sch.has_division


def test_split_and_compose_round_trip():
    sch = get_scheme()
    parts = sch.split("3702030260041003000")
    assert parts == {
        "province": "37",
        "city": "02",
        "county": "03",
        "township": "026",
        "village": "004",
        "grid_class": "1",
        "serial": "003",
        "subgrid": "000",
    }
    assert sch.compose(parts) == "3702030260041003000"
    assert sch.compose({**parts, "serial": 7}) == "3702030260041007000"
    with pytest.raises(CodeError):
        sch.compose({**parts, "serial": 1000})


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_scheme_file_round_trip(tmp_path, suffix):
    sch = SCHEMES["cjt-349-2010"]
    path = tmp_path / f"scheme{suffix}"
    if suffix == ".json":
        path.write_text(sch.to_json(), encoding="utf-8")
    else:
        lines = [f"name = {json.dumps(sch.name)}", f"title = {json.dumps(sch.title)}"]
        lines.append("verified = true")
        lines.append(f"serial_order = {json.dumps(sch.serial_order)}")
        for f in sch.fields:
            lines.append("[[fields]]")
            for k, v in f.to_dict().items():
                lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
        path.write_text("\n".join(lines), encoding="utf-8")
    loaded = get_scheme(str(path))
    assert loaded.to_json() == sch.to_json()
    assert validate_code("00010037020302600401", scheme=loaded) == []


def test_custom_scheme_from_toml_changes_the_suffix(tmp_path):
    path = tmp_path / "shandong.toml"
    path.write_text(
        """
name = "shandong-guess"
[[fields]]
name = "province"
width = 2
role = "province"
[[fields]]
name = "city"
width = 2
role = "city"
[[fields]]
name = "county"
width = 2
role = "county"
[[fields]]
name = "township"
width = 3
role = "township"
[[fields]]
name = "village"
width = 3
role = "village"
[[fields]]
name = "serial"
width = 4
role = "serial"
minimum = 1
maximum = 9999
[[fields]]
name = "kind"
width = 3
role = "other"
default = "000"
""",
        encoding="utf-8",
    )
    sch = CodeScheme.from_file(path)
    assert sch.length == 19
    assert validate_code("3702030260040001000", scheme=sch) == []
    assert validate_code("3702030260040000000", scheme=sch)  # serial 0000 out of range


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "fields": []},
        {"name": "x", "fields": [{"name": "a", "width": 0}]},
        {"name": "x", "fields": [{"name": "a", "width": 2, "role": "nonsense"}]},
        {"name": "x", "fields": [{"name": "a", "width": 1}, {"name": "a", "width": 1}]},
        {"name": "x", "fields": [{"name": "a", "width": 1, "values": {"12": "x"}}]},
        {"fields": [{"name": "a", "width": 1}]},
    ],
)
def test_malformed_schemes_raise_code_error(data):
    with pytest.raises(CodeError):
        CodeScheme.from_dict(data)


def test_unknown_scheme_name():
    with pytest.raises(CodeError, match="unknown code scheme"):
        get_scheme("shandong-2020")
