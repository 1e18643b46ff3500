"""The constrained partitioner: contiguous grids within a household band, tiling each community.

:func:`partition_graph` is the combinatorial core on a networkx graph;
:func:`partition_district` runs the whole stage on a validated district and returns the grid
layer. OR-Tools stays inside ``_cpsat.py``.
"""

from gridgeo.partition._cpsat import SolveStatus
from gridgeo.partition.core import GraphSolution, check_plan, k_range, partition_graph, solve_graph
from gridgeo.partition.grids import (
    FLAGS,
    GRID_COLUMNS,
    REPORT_COLUMNS,
    PartitionResult,
    partition_district,
)

__all__ = [
    "FLAGS",
    "GRID_COLUMNS",
    "PartitionResult",
    "REPORT_COLUMNS",
    "partition_district",
    "GraphSolution",
    "SolveStatus",
    "check_plan",
    "k_range",
    "partition_graph",
    "solve_graph",
]
