"""The review page: a local web page where a planner moves, locks, rebalances and approves grids.

``gridgeo review OUT_DIR --inputs CONFIG`` serves it on 127.0.0.1 (:mod:`gridgeo.review._cli`);
:func:`create_app` is the Starlette app over a :class:`gridgeo.edit.Review`, which does the work.
"""

from gridgeo.review.app import ReviewServer, create_app

__all__ = ["ReviewServer", "create_app"]
