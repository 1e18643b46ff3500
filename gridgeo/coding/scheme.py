"""Grid-code schemes: the layout of a grid code, as data.

A scheme is an ordered list of fields, each with a width, a *role* and the values it
allows. The first twelve digits of every shipped scheme are the National Bureau of
Statistics statistical division code (统计用区划代码) of the grid's community or
village, split in the fields ``province`` (2), ``city`` (2), ``county`` (2),
``township`` (3) and ``village`` (3); gridgeo checks those against the NBS rules. What
follows the division part is not verified against the Shandong provincial text (which
was not at hand), so it lives in the scheme and can be replaced by a TOML or JSON file
without touching code.

Presets (:data:`SCHEMES`)
-------------------------
``gridgeo-19`` (the default, gridgeo's own until the provincial text is at hand)
    division 12 + grid class 1 (``1`` community or village grid, ``2`` dedicated grid,
    other digits reserved) + serial 3 (001–999, per community and class) + sub-grid 3
    (``000`` for the grid itself) = 19 digits (R8).
``beijing-db11`` (DB11 单元网格划分, 15 digits)
    county 6 + street/town 3 + community/village 3 + serial 3.
``cjt-349-2010`` (CJ/T 349-2010 网格划分与编码规则, 20 digits)
    management/service object 6 + county 6 + street/town 3 + community 3 (601 upwards
    for a grid made of several merged communities) + serial 2 (``00`` when the community
    is not subdivided).

A scheme file looks like this (TOML; JSON takes the same keys)::

    name = "my-scheme"
    title = "..."
    verified = false
    [[fields]]
    name = "province"
    width = 2
    role = "province"
    ...
    [[fields]]
    name = "grid_class"
    width = 1
    role = "grid_class"
    values = { "1" = "community", "2" = "dedicated" }
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from os import PathLike
from pathlib import Path
from typing import Any

from gridgeo.errors import CodeError
from gridgeo.i18n import N_, _
from gridgeo.schema import GRID_CLASSES  # noqa: F401 - re-exported: the contract lives in schema

#: The roles a field can play. The division roles are checked against the NBS rules.
DIVISION_ROLES: tuple[str, ...] = ("province", "city", "county", "township", "village")
ROLES: frozenset[str] = frozenset(
    DIVISION_ROLES + ("grid_class", "serial", "subgrid", "object", "other")
)



@dataclass(frozen=True)
class SchemeField:
    """One field of a grid code.

    Parameters
    ----------
    name : str
        The field's name (``serial``, ``grid_class`` ...), unique in its scheme.
    width : int
        Number of digits.
    role : str
        What the field means to gridgeo: one of :data:`ROLES`. Division roles are checked
        against the NBS rules; ``grid_class`` maps its digit to the layer's grid class;
        ``serial`` is issued per community (and class); ``subgrid`` is the sub-grid number
        (its minimum for the grid itself); ``object`` and ``other`` take ``default``.
    label : str
        A human name for messages ("serial within community and class").
    minimum, maximum : int or None
        Allowed integer range (inclusive), when the field is a number.
    values : mapping of str to str, optional
        Allowed values and their meaning. For the ``grid_class`` role the meaning is the
        layer's grid class (``community`` or ``dedicated``).
    extra_ranges : tuple of (int, int, str)
        Further accepted ranges beyond the NBS rules for a division field, with their
        meaning (CJ/T 349's 601+ merged communities).
    default : str or None
        The value written by :func:`gridgeo.coding.assign_codes` for ``object``/``other``
        fields.
    """

    name: str
    width: int
    role: str = "other"
    label: str = ""
    minimum: int | None = None
    maximum: int | None = None
    values: Mapping[str, str] | None = None
    extra_ranges: tuple[tuple[int, int, str], ...] = ()
    default: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.name:
            problems.append(_("a field has no name"))
        if not isinstance(self.width, int) or self.width < 1:
            problems.append(_("field {name!r}: width must be a positive integer").format(name=self.name))
        if self.role not in ROLES:
            problems.append(
                _("field {name!r}: unknown role {role!r} (one of {roles})").format(
                    name=self.name, role=self.role, roles=sorted(ROLES))
            )  # fmt: skip
        if self.values is not None:
            bad = [v for v in self.values if len(v) != self.width or not v.isdigit()]
            if bad:
                problems.append(
                    _("field {name!r}: values {bad} are not {width}-digit strings").format(
                        name=self.name, bad=bad, width=self.width)
                )  # fmt: skip
        if self.default is not None and (
            len(self.default) != self.width or not self.default.isdigit()
        ):
            problems.append(
                _("field {name!r}: default {default!r} is not {width} digits").format(
                    name=self.name, default=self.default, width=self.width)
            )  # fmt: skip
        if problems:
            raise CodeError(_("invalid code scheme: {problems}").format(problems=_("; ").join(problems)))

    @property
    def text(self) -> str:
        """The label, or the name when no label is given."""
        return self.label or self.name.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        """Return the field as a plain dict (the file format)."""
        out: dict[str, Any] = {"name": self.name, "width": self.width, "role": self.role}
        if self.label:
            out["label"] = self.label
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.values is not None:
            out["values"] = dict(self.values)
        if self.extra_ranges:
            out["extra_ranges"] = [list(r) for r in self.extra_ranges]
        if self.default is not None:
            out["default"] = self.default
        return out


@dataclass(frozen=True)
class CodeScheme:
    """The layout of a grid code: named fields of fixed width, in order.

    Parameters
    ----------
    name : str
        Short name (``gridgeo-19``).
    fields : tuple of SchemeField
        The fields, in code order.
    title : str
        Where the scheme comes from.
    verified : bool
        Whether the layout was checked against its published text.
    serial_order : str
        How serials are ordered, in words.
    """

    name: str
    fields: tuple[SchemeField, ...]
    title: str = ""
    verified: bool = False
    serial_order: str = "west to east, north to south within the community"
    _slices: dict[str, slice] = dc_field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        problems = []
        if not self.fields:
            problems.append(_("no fields"))
        if len(set(names)) != len(names):
            problems.append(_("field names repeat: {names}").format(names=names))
        for role in DIVISION_ROLES + ("grid_class", "serial", "subgrid"):
            if sum(f.role == role for f in self.fields) > 1:
                problems.append(_("more than one field has role {role!r}").format(role=role))
        if problems:
            raise CodeError(_("invalid code scheme {scheme!r}: {problems}").format(
                scheme=self.name, problems=_("; ").join(problems)))  # fmt: skip
        start = 0
        for f in self.fields:
            self._slices[f.name] = slice(start, start + f.width)
            start += f.width

    # -- layout ---------------------------------------------------------------------
    @property
    def length(self) -> int:
        """Total number of digits."""
        return sum(f.width for f in self.fields)

    def __iter__(self) -> Iterator[SchemeField]:
        return iter(self.fields)

    def field(self, name: str) -> SchemeField:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise CodeError(_("scheme {scheme!r} has no field {name!r}").format(scheme=self.name, name=name))

    def field_for_role(self, role: str) -> SchemeField | None:
        """Return the field playing ``role``, or None."""
        for f in self.fields:
            if f.role == role:
                return f
        return None

    def span(self, name: str) -> slice:
        """Return the slice of the code the field ``name`` occupies."""
        return self._slices[name]

    @property
    def has_division(self) -> bool:
        """True when all five division fields (12 digits) are present."""
        return all(self.field_for_role(r) is not None for r in DIVISION_ROLES)

    def split(self, code: str) -> dict[str, str]:
        """Cut a code into its fields (no checking beyond the length).

        Raises
        ------
        CodeError
            When the code is not ``length`` characters long.
        """
        if len(code) != self.length:
            raise CodeError(
                _("code {code!r} has {n} characters; scheme {scheme!r} needs {length}").format(
                    code=code, n=len(code), scheme=self.name, length=self.length)
            )  # fmt: skip
        return {f.name: code[self._slices[f.name]] for f in self.fields}

    def division_code(self, code: str) -> str:
        """Return the 12-digit division code held in ``code``."""
        if not self.has_division:
            raise CodeError(_("scheme {scheme!r} holds no 12-digit division code").format(scheme=self.name))
        parts = self.split(code)
        return "".join(parts[self.field_for_role(r).name] for r in DIVISION_ROLES)  # type: ignore[union-attr]

    def compose(self, parts: Mapping[str, str | int]) -> str:
        """Join field values into a code; integers are zero-padded to the field width.

        Raises
        ------
        CodeError
            When a field is missing or a value does not fit its width.
        """
        out = []
        for f in self.fields:
            if f.name not in parts:
                raise CodeError(_("scheme {scheme!r}: no value given for field {name!r}").format(
                    scheme=self.name, name=f.name))  # fmt: skip
            v = parts[f.name]
            s = f"{v:0{f.width}d}" if isinstance(v, int) else str(v)
            if len(s) != f.width or not s.isdigit():
                raise CodeError(
                    _("scheme {scheme!r}: value {value!r} does not fit field {name!r} ({width} digits)").format(
                        scheme=self.name, value=v, name=f.name, width=f.width)
                )  # fmt: skip
            out.append(s)
        return "".join(out)

    def class_digit(self, grid_class: str) -> str:
        """Return the ``grid_class`` field value for a layer grid class, "" if no such field.

        Raises
        ------
        CodeError
            When the scheme has a class field but no value means ``grid_class``.
        """
        f = self.field_for_role("grid_class")
        if f is None:
            return ""
        for value, meaning in (f.values or {}).items():
            if meaning == grid_class:
                return value
        raise CodeError(
            _("scheme {scheme!r} has no {name} value for grid class {cls!r} (known: {known})").format(
                scheme=self.name, name=f.name, cls=grid_class, known=dict(f.values or {}))
        )  # fmt: skip

    # -- files ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the scheme as a plain dict (the TOML/JSON file format)."""
        return {
            "name": self.name,
            "title": self.title,
            "verified": self.verified,
            "serial_order": self.serial_order,
            "fields": [f.to_dict() for f in self.fields],
        }

    def to_json(self) -> str:
        """Return the scheme as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CodeScheme:
        """Build a scheme from a dict of the file format.

        Raises
        ------
        CodeError
            When keys are missing or a field is malformed.
        """
        try:
            fields = tuple(
                SchemeField(
                    name=str(f["name"]),
                    width=int(f["width"]),
                    role=str(f.get("role", "other")),
                    label=str(f.get("label", "")),
                    minimum=None if f.get("minimum") is None else int(f["minimum"]),
                    maximum=None if f.get("maximum") is None else int(f["maximum"]),
                    values=None if f.get("values") is None else dict(f["values"]),
                    extra_ranges=tuple(
                        (int(a), int(b), str(m)) for a, b, m in f.get("extra_ranges", ())
                    ),
                    default=None if f.get("default") is None else str(f["default"]),
                )
                for f in data["fields"]
            )
            return cls(
                name=str(data["name"]),
                fields=fields,
                title=str(data.get("title", "")),
                verified=bool(data.get("verified", False)),
                serial_order=str(
                    data.get("serial_order", "west to east, north to south within the community")
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CodeError):
                raise
            raise CodeError(_("invalid code scheme definition: {why!r}").format(why=exc)) from exc

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> CodeScheme:
        """Read a scheme from a ``.toml`` or ``.json`` file.

        Raises
        ------
        CodeError
            When the file cannot be read or does not describe a scheme.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            data = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise CodeError(
                _("{path}: cannot read code scheme ({why}); give a TOML or JSON file").format(path=p, why=exc)
            ) from exc
        return cls.from_dict(data)


def _division_fields(county_label: str = N_("county")) -> list[dict[str, Any]]:
    # The labels are English (a scheme is data, its file stays in one language); messages
    # translate them where they name a field.
    return [
        {"name": "province", "width": 2, "role": "province", "label": N_("province")},
        {"name": "city", "width": 2, "role": "city", "label": N_("city (prefecture)")},
        {"name": "county", "width": 2, "role": "county", "label": county_label},
        {"name": "township", "width": 3, "role": "township", "label": N_("street/town/township")},
        {"name": "village", "width": 3, "role": "village", "label": N_("community/village")},
    ]


_PRESETS: dict[str, dict[str, Any]] = {
    "gridgeo-19": {
        "name": "gridgeo-19",
        "title": N_(
            "gridgeo's own 19-digit layout (R8): NBS division code 12 + grid class 1 + serial 3 "
            "+ sub-grid 3. The division part is verified; the suffix is not (the Shandong "
            "provincial text was not at hand)."
        ),
        "verified": False,
        "serial_order": (
            "rows of band_m metres (default 200 m) north to south, west to east inside a row, "
            "on representative points in a metric CRS, within the community and class; ties by grid_id"
        ),
        "fields": _division_fields()
        + [
            {
                "name": "grid_class",
                "width": 1,
                "role": "grid_class",
                "label": N_("grid class"),
                "values": {"1": N_("community"), "2": N_("dedicated")},
            },
            {
                "name": "serial",
                "width": 3,
                "role": "serial",
                "label": N_("serial within community and class"),
                "minimum": 1,
                "maximum": 999,
            },
            {
                "name": "subgrid",
                "width": 3,
                "role": "subgrid",
                "label": N_("sub-grid number"),
                "minimum": 0,
                "maximum": 999,
            },
        ],
    },
    "beijing-db11": {
        "name": "beijing-db11",
        "title": N_("Beijing DB11 单元网格划分 (网格化城市管理系统): county 6 + street/town 3 + community/village 3 + serial 3"),
        "verified": True,
        "serial_order": "west to east, north to south within the community",
        "fields": _division_fields()
        + [
            {
                "name": "serial",
                "width": 3,
                "role": "serial",
                "label": N_("serial within community"),
                "minimum": 1,
                "maximum": 999,
            }
        ],
    },
    "cjt-349-2010": {
        "name": "cjt-349-2010",
        "title": N_(
            "CJ/T 349-2010 数字社区管理与服务 网格划分与编码规则: management/service object 6 + "
            "county 6 + street/town 3 + community 3 (601+ for merged communities) + serial 2"
        ),
        "verified": True,
        "serial_order": "left to right, top to bottom",
        "fields": [
            {
                "name": "object",
                "width": 6,
                "role": "object",
                "label": N_("management/service object (last two digits 00 for a major class)"),
            }
        ]
        + [
            dict(f, extra_ranges=[[601, 999, N_("grid of several merged communities")]])
            if f["role"] == "village"
            else f
            for f in _division_fields()
        ]
        + [
            {
                "name": "serial",
                "width": 2,
                "role": "serial",
                "label": N_("serial within community (00 when not subdivided)"),
                "minimum": 0,
                "maximum": 99,
            }
        ],
    },
}

#: The shipped schemes, by name. ``gridgeo-19`` is the default.
SCHEMES: dict[str, CodeScheme] = {k: CodeScheme.from_dict(v) for k, v in _PRESETS.items()}

#: The name of the default scheme.
DEFAULT_SCHEME = "gridgeo-19"


def get_scheme(scheme: CodeScheme | str | PathLike[str] | None = None) -> CodeScheme:
    """Resolve a scheme given as an object, a preset name, a file path or None (default).

    Parameters
    ----------
    scheme : CodeScheme, str, path or None
        A scheme, the name of a preset in :data:`SCHEMES`, or a ``.toml``/``.json`` file.

    Returns
    -------
    CodeScheme

    Raises
    ------
    CodeError
        When the name is neither a preset nor a readable scheme file.
    """
    if scheme is None:
        return SCHEMES[DEFAULT_SCHEME]
    if isinstance(scheme, CodeScheme):
        return scheme
    key = str(scheme)
    if key in SCHEMES:
        return SCHEMES[key]
    if Path(key).suffix.lower() in (".toml", ".json"):
        return CodeScheme.from_file(key)
    raise CodeError(
        _("unknown code scheme {key!r}: give one of {known} or a .toml/.json scheme file").format(
            key=key, known=sorted(SCHEMES))
    )  # fmt: skip
