"""The ``gridgeo review`` command: serve the review page of an output folder.

The main CLI calls :func:`register` with its subparsers. The page is bound to 127.0.0.1; another
address needs ``--host`` and a ``--token`` that the page's URL must carry.
"""

from __future__ import annotations

import argparse
import getpass

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _
from gridgeo.options import PartitionOptions, add_band_arguments

#: Addresses that only this machine reaches.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``review`` subcommand.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """
    p = subparsers.add_parser(
        "review",
        help=_("serve a local page to move, lock, rebalance, merge, split and approve grids"),
        description=_("Review, adjust and approve the grids of an output folder in a local web page."),
    )
    p.add_argument("out", metavar="OUT_DIR", help=_("output folder of `gridgeo run`"))
    p.add_argument("--inputs", required=True, metavar="CONFIG",
                   help=_("the TOML config the run read (the units are rebuilt from it)"))  # fmt: skip
    p.add_argument("--port", type=int, default=8765, help=_("port (default 8765)"))
    p.add_argument("--host", default="127.0.0.1", help=_("address (default 127.0.0.1; another needs --token)"))
    p.add_argument("--token", default=None, help=_("secret the page's URL must carry (/?token=...)"))
    p.add_argument("--by", default=None, help=_("who approves (default the login name)"))
    add_band_arguments(p, partition=True)
    p.set_defaults(func=cmd_review)


def check_address(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token.

    Raises
    ------
    InputError
        When ``host`` is not local and no token is given, or the token is short.
    """
    if host not in LOCAL_HOSTS and not token:
        raise InputError([Problem("--host", host, _("listening beyond 127.0.0.1 needs --token SECRET"))])
    if token is not None and len(token) < 12:
        raise InputError([Problem("--token", None, _("use a token of at least 12 characters"))])


def cmd_review(args: argparse.Namespace) -> int:
    """Load the folder, serve the page until interrupted."""
    import uvicorn

    from gridgeo.edit import open_review
    from gridgeo.review.app import ReviewServer, create_app

    check_address(args.host, args.token)
    options = PartitionOptions.of(lower=args.lower, upper=args.upper, measure=args.measure,
                                  time_limit=args.time_limit, seed=args.seed)  # fmt: skip
    review = open_review(args.out, args.inputs, options=options)
    by = args.by or getpass.getuser()
    server = ReviewServer(review, by=by, token=args.token)
    query = f"/?token={args.token}" if args.token else "/"
    print(_("review {out}: {url}  (approving as {by}; Ctrl-C to stop)").format(
        out=args.out, url=f"http://{args.host}:{args.port}{query}", by=by))  # fmt: skip
    uvicorn.run(create_app(server), host=args.host, port=args.port, log_level="warning")
    return 0
