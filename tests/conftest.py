"""Shared fixtures: the embedded sample, validated and partitioned once per test session."""

from __future__ import annotations

import pytest
from hypothesis import settings

from gridgeo.synth import qingdao_sample
from gridgeo.validate import validate_layers


@pytest.fixture(scope="session")
def sample_layers():
    """The embedded sample's layers (EPSG:4490), as the generator makes them (seed 0)."""
    return qingdao_sample(seed=0)


@pytest.fixture(scope="session")
def sample_district(sample_layers):
    """The sample, validated (metric CRS)."""
    return validate_layers(sample_layers)


@pytest.fixture(scope="session")
def sample_result(sample_district):
    """The sample partitioned into grids (300-500 households, seed 0, short time budget)."""
    from gridgeo.partition import partition_district

    return partition_district(sample_district, time_limit=0.1, seed=0)


# Property tests draw the same examples on every run, so what CI runs is what a user runs.
settings.register_profile("gridgeo", derandomize=True)
settings.load_profile("gridgeo")
