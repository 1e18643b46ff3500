"""``python -m gridgeo``: the same as the ``gridgeo`` command."""

import sys

from gridgeo.cli import main

sys.exit(main())
