"""The 12-digit division-code rules live in gridgeo.divisions; validation and coding agree on them."""

from __future__ import annotations

import pytest

from gridgeo.coding import validate_division_code
from gridgeo.divisions import division_code_problems, is_village_code, township_kind, village_kind
from gridgeo.errors import InputError
from gridgeo.testing import make_district
from gridgeo.validate import validate_layers

CODES = [
    "370203026002",  # 南山社区 (real)
    "370211108201",  # a village of 宝山镇
    "990101001001",  # province 99 does not exist
    "370203700001",  # township 700 is no NBS class
    "370203026000",  # a street code
    "370203000004",  # a county code
    "370203026999",  # village part 999
    "３７0203026002",  # full-width digits
    "37020302600",  # 11 digits
]


@pytest.mark.parametrize("code", CODES)
def test_validation_and_coding_apply_the_same_rule(code):
    assert validate_division_code(code) == division_code_problems(code)


@pytest.mark.parametrize("code", ["990101001001", "370203700001", "３７0203026002"])
def test_a_code_coding_refuses_is_refused_by_validation(code):
    assert division_code_problems(code)
    district = make_district(seed=0)
    layers = {
        "communities": district.communities.drop(columns=["is_village"]).to_crs(district.crs),
        "buildings": district.buildings.drop(columns=["community_code"]).to_crs(district.crs),
    }
    layers["communities"].loc[layers["communities"].index[0], "community_code"] = code
    with pytest.raises(InputError) as info:
        validate_layers(layers)
    assert any(p.feature_id == code or code in p.message for p in info.value.problems)


def test_village_range_is_one_rule():
    assert is_village_code("370211108201") and is_village_code("370211108399")
    assert not is_village_code("370203026002") and not is_village_code("370211108400")
    assert village_kind("250") == "villagers' committee" and village_kind("000") is None
    assert township_kind("026") == "street" and township_kind("700") is None
