"""Batch work: a whole city on Dask with checkpoints, and re-partitioning what changed.

:func:`run_partition` spreads the communities of a district over workers and resumes from
checkpoints; :func:`repartition` re-partitions only the communities whose inputs changed,
keeping grids and codes stable where it can.
"""

from gridgeo.batch.changes import (
    CHANGE_COLUMNS,
    PreviousRun,
    RepartitionResult,
    community_outlines,
    detect_changes,
    load_previous,
    repartition,
)
from gridgeo.batch.runner import (
    BatchResult,
    community_subsets,
    run_community,
    run_partition,
)

__all__ = [
    "CHANGE_COLUMNS",
    "BatchResult",
    "PreviousRun",
    "RepartitionResult",
    "community_outlines",
    "community_subsets",
    "detect_changes",
    "load_previous",
    "repartition",
    "run_community",
    "run_partition",
]
