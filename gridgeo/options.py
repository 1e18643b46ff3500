"""One home for the options of a run: the band, the budget, the seed.

Every stage that needs the band (partition, coverage proof, audit, batch, pipeline) and every
command of the command line takes it from here: :class:`Band` validates itself when it is
made, so a bad band is an :class:`~gridgeo.errors.InputError` (exit 2 on the command line)
before any work starts, and the defaults per measure are written once, in
:data:`DEFAULT_BANDS`.

Examples
--------
>>> Band.default("residents")
Band(lower=800, upper=1200, measure='residents')
>>> PartitionOptions(band=Band(300, 450), seed=3).band.upper
450
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

if TYPE_CHECKING:  # the command line builds its parser from this module without geopandas
    from gridgeo.units import UnitOptions

#: What a band can count.
MEASURES: tuple[str, ...] = ("households", "residents")

#: The band of a grid per measure (R1: 300–500 resident households, or about 1000 people).
DEFAULT_BANDS: dict[str, tuple[int, int]] = {"households": (300, 500), "residents": (800, 1200)}

#: CP-SAT's deterministic seconds per community part when nothing else is asked.
DEFAULT_TIME_LIMIT = 0.5

#: Seeds go to CP-SAT's ``random_seed`` (a 32-bit int) and numpy's generator.
MAX_SEED = 2**31 - 1


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class Band:
    """The range a grid's households (or residents) must lie in (R1), both ends included.

    Parameters
    ----------
    lower, upper : int
        The bounds, ``0 < lower <= upper``, in households or residents.
    measure : {"households", "residents"}
        What the band counts.

    Raises
    ------
    InputError
        When the measure is unknown, a bound is not a whole number, or the band is empty.
    """

    lower: int
    upper: int
    measure: str = "households"

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.measure not in MEASURES:
            problems.append(Problem("--measure", None, _("is {value!r}; use one of {choices}").format(value=self.measure, choices=", ".join(MEASURES))))
        for name in ("lower", "upper"):
            value = getattr(self, name)
            if not _is_int(value):
                problems.append(Problem(f"--{name}", None, _("is {value!r}; give a whole number of {measure}").format(value=value, measure=_(self.measure))))
        if not problems and not 0 < self.lower <= self.upper:
            problems.append(Problem("--lower/--upper", None,
                                    _("the band [{lower}, {upper}] is empty: need 0 < lower <= upper").format(
                                        lower=self.lower, upper=self.upper)))  # fmt: skip
        if problems:
            raise InputError(problems)

    @classmethod
    def default(cls, measure: str = "households") -> Band:
        """The regulation's band for ``measure`` (see :data:`DEFAULT_BANDS`).

        Parameters
        ----------
        measure : {"households", "residents"}

        Returns
        -------
        Band
        """
        if measure not in DEFAULT_BANDS:
            raise InputError([Problem("--measure", None, _("is {value!r}; use one of {choices}").format(value=measure, choices=", ".join(MEASURES)))])
        lower, upper = DEFAULT_BANDS[measure]
        return cls(lower, upper, measure)

    @classmethod
    def of(cls, lower: int | None = None, upper: int | None = None, measure: str = "households") -> Band:
        """A band from optional bounds: a bound not given is the default of ``measure``.

        Parameters
        ----------
        lower, upper : int, optional
        measure : {"households", "residents"}

        Returns
        -------
        Band
        """
        d = cls.default(measure)
        return cls(d.lower if lower is None else lower, d.upper if upper is None else upper, measure)

    def contains(self, value: float) -> bool:
        """Tell whether ``value`` lies in the band."""
        return self.lower <= value <= self.upper

    def __str__(self) -> str:
        return f"[{self.lower}, {self.upper}] {_(self.measure)}"


@dataclass(frozen=True)
class PartitionOptions:
    """Everything a community's grids depend on besides its inputs.

    Parameters
    ----------
    band : Band
        The band of a grid (default 300–500 households).
    time_limit : float
        CP-SAT's deterministic seconds per community part (> 0, finite).
    seed : int
        Seed of the heuristic and of CP-SAT (0 … 2³¹−1): the same inputs and seed give the
        same grids on any machine.
    units : UnitOptions
        How the units are built.

    Raises
    ------
    InputError
        When the time limit or the seed is not usable.
    """

    band: Band = field(default_factory=Band.default)
    time_limit: float = DEFAULT_TIME_LIMIT
    seed: int = 0
    units: UnitOptions = field(default_factory=lambda: _unit_options())

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        t = self.time_limit
        if isinstance(t, bool) or not isinstance(t, Real) or not math.isfinite(t) or t <= 0:
            problems.append(Problem("--time-limit", None, _("is {value!r}; give a positive number of seconds").format(value=t)))
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            problems.append(Problem("--seed", None, _("is {value!r}; give a whole number from 0 to {top}").format(value=self.seed, top=MAX_SEED)))
        if not isinstance(self.band, Band):
            problems.append(Problem("band", None, _("is {value!r}, not a Band").format(value=self.band)))
        if problems:
            raise InputError(problems)

    @classmethod
    def of(
        cls,
        *,
        lower: int | None = None,
        upper: int | None = None,
        measure: str = "households",
        time_limit: float = DEFAULT_TIME_LIMIT,
        seed: int = 0,
        units: UnitOptions | None = None,
    ) -> PartitionOptions:
        """Options from plain values, as the command line has them; bounds default per measure.

        Returns
        -------
        PartitionOptions
        """
        problems: list[Problem] = []
        try:
            band = Band.of(lower, upper, measure)
        except InputError as exc:
            problems, band = list(exc.problems), Band.default()
        try:
            options = cls(band, time_limit, seed, units or _unit_options())
        except InputError as exc:
            problems += exc.problems
        if problems:  # every bad value at once, as validation does
            raise InputError(problems)
        return options

    @property
    def lower(self) -> int:
        """The band's lower bound."""
        return self.band.lower

    @property
    def upper(self) -> int:
        """The band's upper bound."""
        return self.band.upper

    @property
    def measure(self) -> str:
        """What the band counts."""
        return self.band.measure


@dataclass(frozen=True)
class Execution:
    """Where the communities are partitioned: in this process, or on Dask; resumable or not.

    The grids do not depend on it: the same inputs and options give the same grids in process
    and on any number of workers.

    Parameters
    ----------
    workers : int
        1 partitions in this process; more start a local Dask cluster of that many processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); ``workers`` is then ignored.
    checkpoint : str, optional
        Folder of per-community results: a run that dies resumes from it.
    bar : bool
        Draw a progress bar of the communities on standard error.

    Raises
    ------
    InputError
        When ``workers`` is not a whole number of at least 1.
    """

    workers: int = 1
    scheduler: str | None = None
    checkpoint: str | None = None
    bar: bool = False

    def __post_init__(self) -> None:
        check_workers(self.workers)

    @property
    def batch(self) -> bool:
        """True when the run goes through Dask or a checkpoint folder."""
        return self.workers > 1 or self.scheduler is not None or self.checkpoint is not None


@dataclass(frozen=True)
class ReadOptions:
    """How the inputs are read: land-use classes gridgeo does not know, missing counts, census totals.

    Parameters
    ----------
    skip_unknown_landuse : bool
        An unknown land-use class is a located warning and the feature is left out, instead of
        an error that stops the run.
    estimate_households : dict, optional
        Estimate the households (and residents) a building lacks from its footprint × levels:
        keys of :class:`gridgeo.validate.HouseholdEstimate` (``floor_area_m2``, ``levels_column``,
        ``default_levels``, ``household_size``); an empty dict takes its defaults. Every
        estimated count is marked ``households_estimated`` in the outputs.
    census : str, optional
        A CSV of ``community_code``, ``households``, ``residents`` per community, shared among
        each community's buildings by floor area (whole numbers summing exactly to the totals).
    """

    skip_unknown_landuse: bool = False
    estimate_households: dict | None = None
    census: str | None = None

    @classmethod
    def from_config(cls, table: dict) -> ReadOptions:
        """The reading part of a config's ``[options]`` table (see :func:`gridgeo.io.read_config_options`)."""
        est = table.get("estimate_households")
        census = table.get("census")
        return cls(bool(table.get("skip_unknown_landuse", False)), None if est is None else dict(est),
                   None if census is None else str(census))  # fmt: skip


def _unit_options() -> UnitOptions:
    from gridgeo.units import UnitOptions

    return UnitOptions()


def check_workers(workers: object) -> int:
    """Return a usable number of worker processes, or raise.

    Parameters
    ----------
    workers : int
        At least 1.

    Returns
    -------
    int

    Raises
    ------
    InputError
        When ``workers`` is not a whole number of at least 1.
    """
    if not _is_int(workers) or workers < 1:
        raise InputError([Problem("--workers", None, _("is {value!r}; give a whole number of at least 1").format(value=workers))])
    return int(workers)


def add_band_arguments(parser: argparse.ArgumentParser, *, partition: bool = False) -> None:
    """Add ``--lower``, ``--upper``, ``--measure`` (and with ``partition`` ``--time-limit``, ``--seed``).

    Every command that partitions or checks the band takes the same flags, with the defaults of
    this module; :meth:`PartitionOptions.of` and :meth:`Band.of` turn them into options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The (sub)command's parser.
    partition : bool
        Also add the partitioner's budget and seed.
    """
    (hl, hu), (rl, ru) = DEFAULT_BANDS["households"], DEFAULT_BANDS["residents"]
    parser.add_argument("--lower", type=int, default=None,
                        help=_("lower bound of a grid (default {h} households / {r} residents)").format(h=hl, r=rl))  # fmt: skip
    parser.add_argument("--upper", type=int, default=None,
                        help=_("upper bound of a grid (default {h} households / {r} residents)").format(h=hu, r=ru))  # fmt: skip
    parser.add_argument("--measure", choices=MEASURES, default="households",
                        help=_("what the band counts (default households)"))  # fmt: skip
    if partition:
        parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT,
                            help=_("CP-SAT deterministic seconds per community (default {t})").format(t=DEFAULT_TIME_LIMIT))  # fmt: skip
        parser.add_argument("--seed", type=int, default=0,
                            help=_("seed: the same inputs and seed give the same grids"))  # fmt: skip
