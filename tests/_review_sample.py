"""The small run the review tests edit: a generated district partitioned into a folder."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from gridgeo.options import PartitionOptions

OPTIONS = PartitionOptions.of(time_limit=0.1, seed=0)
DATE = "2026-01-01"


@cache
def district():
    """Three urban communities of 阜新路街道 (seed 0), validated."""
    from gridgeo.testing import make_district

    return make_district(0)


def sample_output(base: Path) -> Path:
    """Run the pipeline once into ``base/run`` and return a fresh copy of that folder."""
    from gridgeo import pipeline

    first = base / "run"
    if not (first / "grids.gpkg").exists():
        pipeline.run(district(), first, options=OPTIONS, date=DATE)
    n = len(list(base.glob("copy-*")))
    target = base / f"copy-{n}"
    shutil.copytree(first, target)
    return target
