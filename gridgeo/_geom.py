"""Small geometry helpers shared by the stages."""

from __future__ import annotations

import shapely


def snap(geoms, grid: float):
    """Round coordinates to a grid (m or degrees), keeping the result valid and floating.

    ``shapely.set_precision`` also attaches its grid to the geometry, and later overlays
    would silently round to it — but only in this process, since pickling (Dask workers,
    checkpoints) drops it. Going through WKB drops it here too, so every later operation
    runs in full floating precision wherever it runs, and results are identical.

    Parameters
    ----------
    geoms : shapely geometry or array of them
    grid : float
        Grid size, in the units of the CRS.

    Returns
    -------
    The snapped geometry or array.
    """
    return shapely.from_wkb(shapely.to_wkb(shapely.set_precision(geoms, grid)))
