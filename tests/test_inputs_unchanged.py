"""Every public stage function leaves its inputs as they were (a caller's frames are never modified)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from gridgeo.district import District
from gridgeo.testing import make_district

TIME = 0.05


@pytest.fixture(scope="module")
def made():
    from gridgeo.coding import assign_codes
    from gridgeo.partition import partition_district

    district = make_district(seed=1)
    result = partition_district(district, time_limit=TIME, seed=0)
    return district, result, assign_codes(result.grids)


def _validate(d, r, c):
    from gridgeo.validate import validate_layers

    layers = {n: getattr(d, n).to_crs(d.crs) for n in ("communities", "buildings", "landuse", "roads", "rivers")}
    layers["communities"] = layers["communities"].drop(columns=["is_village"])
    return (layers,), lambda layers: validate_layers(layers)


def _units(d, r, c):
    from gridgeo.units import build_units

    return (d,), lambda d: build_units(d)


def _partition(d, r, c):
    from gridgeo.partition import partition_district

    return (d,), lambda d: partition_district(d, time_limit=TIME)


def _coverage(d, r, c):
    from gridgeo.coverage import check_coverage

    return (c, d), lambda g, d: check_coverage(g, d, units=r.units)


def _codes(d, r, c):
    from gridgeo.coding import assign_codes

    return (r.grids,), lambda g: assign_codes(g)


def _audit(d, r, c):
    from gridgeo.coverage import audit_grids

    return (c, d), lambda g, d: audit_grids(g, d, time_limit=TIME)


def _summary(d, r, c):
    from gridgeo.validate import summarise

    return (d,), lambda d: summarise(d)


def _outlines(d, r, c):
    from gridgeo.batch import community_outlines

    return (d,), lambda d: community_outlines(d)


def _pipeline(d, r, c):
    from gridgeo import pipeline
    from gridgeo.options import PartitionOptions

    return (d,), lambda d: pipeline.run(d, options=PartitionOptions(time_limit=TIME), date="2026-01-01",
                                        draw_map=False)  # fmt: skip


def _map(d, r, c):
    from gridgeo.export import render_map

    return (c, d), lambda g, d: render_map(g, district=d)


STAGES = [_validate, _units, _partition, _coverage, _codes, _audit, _summary, _outlines, _pipeline, _map]


def _assert_same(before, after) -> None:
    if isinstance(before, District):
        for name in ("communities", "buildings", "landuse", "roads", "rivers", "findings"):
            _assert_same(getattr(before, name), getattr(after, name))
    elif isinstance(before, dict):
        assert before.keys() == after.keys()
        for k in before:
            _assert_same(before[k], after[k])
    elif hasattr(before, "geometry"):
        assert_geodataframe_equal(before, after, check_less_precise=False)
    else:
        pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("stage", STAGES, ids=lambda f: f.__name__.strip("_"))
def test_stage_leaves_its_inputs_unchanged(made, stage):
    args, call = stage(*made)
    before = copy.deepcopy(args)
    call(*args)
    for b, a in zip(before, args, strict=True):
        _assert_same(b, a)
