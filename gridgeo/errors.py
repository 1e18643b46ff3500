"""All of gridgeo's exceptions, in one place.

The library raises these; the command line turns them into one readable line and a
non-zero exit status. Every message names the file, the feature id and the rule where
they are known, and says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas


class GridgeoError(Exception):
    """Base class of every error gridgeo raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file.

    Parameters
    ----------
    source : str
        The file (and layer) the feature came from.
    feature_id : str or None
        The id of the offending feature, or None for a file-level problem.
    message : str
        What is wrong and what to do about it.
    """

    source: str
    feature_id: str | None
    message: str

    def __str__(self) -> str:
        from gridgeo.i18n import _

        where = self.source if self.feature_id is None else _("{source} [id {id}]").format(
            source=self.source, id=self.feature_id)  # fmt: skip
        return _("{where}: {message}").format(where=where, message=self.message)


class InputError(GridgeoError, ValueError):
    """An input file or layer cannot be used as given.

    Collects every problem found, so that a planner fixes a file in one pass.
    """

    def __init__(self, problems: Iterable[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("input", None, problems)]
        self.problems: list[Problem] = list(problems)
        lines = [str(p) for p in self.problems]
        from gridgeo.i18n import _

        head = _("{n} input problem(s):").format(n=len(lines)) if len(lines) > 1 else _("input problem:")
        super().__init__(head + "\n  " + "\n  ".join(lines))


class InfeasibleError(GridgeoError):
    """No partition satisfies the rules asked for (band, contiguity, part count)."""


class CodeError(GridgeoError, ValueError):
    """A grid code is malformed or cannot be issued."""


class RegistryError(GridgeoError):
    """The grid-code registry is missing, corrupt or in conflict."""


class StaffingError(InfeasibleError):
    """The roster cannot give every grid a full-time worker.

    Attributes
    ----------
    missing : int
        How many more full-time workers the grids need (at the fewest).
    grids : pandas.DataFrame
        The grids left without one: key, community code and name, households, and the
        ``patch`` a new worker would take.
    """

    def __init__(self, message: str, *, missing: int, grids: pandas.DataFrame) -> None:
        super().__init__(message)
        self.missing = missing
        self.grids = grids


class FontError(GridgeoError):
    """No CJK font is available to set a board in."""
