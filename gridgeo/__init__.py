"""gridgeo: service grids for grid-based community management (网格化服务管理).

The pipeline, one module or package per stage::

    io (read, validate) -> units -> partition -> coverage -> coding -> export
"""

from gridgeo.errors import (
    CodeError,
    FontError,
    GridgeoError,
    InfeasibleError,
    InputError,
    RegistryError,
    StaffingError,
)

__version__ = "0.1.0"

__all__ = [
    "CodeError",
    "FontError",
    "GridgeoError",
    "InfeasibleError",
    "InputError",
    "RegistryError",
    "StaffingError",
    "__version__",
]
