"""Shared fixtures: the embedded sample, validated and partitioned once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

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


#: The system Chromium the browser tests drive through Playwright (CI's .ci/run installs it).
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def chromium_browser():
    """A headless system Chromium under Playwright, or a skip saying how to get one."""
    if CHROMIUM is None:
        pytest.skip("no chromium here (apt-get install -y chromium; CI's .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def first_community_files(sample_result, tmp_path_factory):
    """A factory: the coded grids of the sample's first community and a generated roster, written
    into a new folder (``grids.gpkg``, ``roster.csv``); returns (folder, grids, roster)."""
    from gridgeo.coding import assign_codes
    from gridgeo.export import sample_roster
    from gridgeo.io import write_layers, write_table

    grids = assign_codes(sample_result.grids)
    one = grids[grids["community_code"] == grids["community_code"].iloc[0]]

    def make(name: str):
        folder = tmp_path_factory.mktemp(name)
        write_layers({"grids": one}, folder / "grids.gpkg")
        roster = sample_roster(one, seed=2)
        write_table(roster, folder / "roster.csv")
        return folder, one, roster

    return make
