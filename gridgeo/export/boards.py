"""Notice boards (公示牌) and contact cards (民情联系卡) of the grids (S2, 规范 三.2).

For every grid a printable sheet: its map (boundary, buildings, neighbouring grids, dedicated
units, north arrow, scale bar), its code, community and street, households and residents, the
grid leader's and workers' names, photos, phones and duties, the supervision phone and, when
its people have a ``qr_url`` (roster column 二维码链接), a QR code captioned 扫码进群 in the
top-right corner (see :mod:`gridgeo.export._qr`); and a page of cut-out contact cards. A street's sheets come out in one batch: one multi-page PDF per
street and paper size (board then cards, grid after grid, in code order) and a PNG of each
page. Only staff data are printed: no resident-level record.

Pages are drawn with matplotlib in the Noto Sans CJK SC font (see :mod:`gridgeo.export._fonts`);
the same inputs give byte-identical PDFs and PNGs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import matplotlib.text
import pandas as pd
import shapely
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, PathPatch, Rectangle

from gridgeo.district import metric_crs
from gridgeo.divisions import division_name
from gridgeo.errors import InputError, Problem
from gridgeo.export._common import (
    DEFAULT_DUTIES,
    ROLE_LABELS,
    check_grids,
    output_file,
    safe_name,
    short_code,
    street_of,
)
from gridgeo.export._fonts import cjk_family, drawable
from gridgeo.export._qr import expand, qr_matrix, qr_path, qr_problem
from gridgeo.export._streets import label_points, layer_of, named_lines
from gridgeo.export.roster import check_photos, photo_problem
from gridgeo.i18n import _
from gridgeo.io import atomic_path

#: Paper sizes, inches (ISO 216 portrait).
PAPERS: dict[str, tuple[float, float]] = {
    "A4": (210 / 25.4, 297 / 25.4),
    "A3": (297 / 25.4, 420 / 25.4),
}
#: Fixed PDF metadata: no creation date, so the same inputs give the same bytes.
PDF_METADATA = {"Creator": "gridgeo", "Producer": "gridgeo", "CreationDate": None}
PNG_METADATA = {"Software": "gridgeo"}
DEFAULT_SUPERVISION_PHONE = "12345"

_RED = "#b3261e"
_CLASS_LABEL = {"community": "社区网格", "dedicated": "专属网格"}
_DEDICATED_LABEL = {
    "school": "学校", "hospital": "医院", "industrial_park": "园区", "park": "园区", "factory": "厂区",
    "market": "商圈市场", "office": "商务楼宇", "scenic": "景区",
}  # fmt: skip


#: Lines of people a contact card holds.
CARD_LINES = 5
#: Size of the duties on an A4 board (pt; scaled on A3): readable on a wall from a metre.
DUTIES_PT = 10.5
#: Distance between two lines of duties, as a fraction of the page height (A4: 14.7 pt).
DUTIES_LEADING = 0.0175
#: Height of one person's box, as a fraction of the page height (three lines of duties).
PERSON_HEIGHT = 0.13
#: The tallest a person's box grows for long duties (five lines).
PERSON_HEIGHT_MAX = 0.165
#: Name printed where a grid has no 网格长 yet.
TO_BE_NAMED = "待定"
#: What the PDFs are drawn with: TrueType (Type 42) fonts embedded, which print shops and WPS
#: can edit (the default Type 3 they cannot), text as written (never mathtext).
PDF_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "text.parse_math": False, "text.usetex": False}


class BoardTextWarning(UserWarning):
    """A text on a board or card holds characters the board font cannot draw.

    Such a character (a rare character of a name, a control character in the data) prints as an
    empty box; the board is written all the same, and the warning names the grid, the text and
    the characters.
    """


def _undrawable(fig: Figure, family: str) -> list[tuple[str, str]]:
    """Each text of ``fig`` with characters ``family`` lacks, and those characters (in order, once)."""
    have = drawable(family)
    found = []
    for t in fig.findobj(matplotlib.text.Text):
        text = t.get_text()
        missing = "".join(dict.fromkeys(c for c in text if not c.isspace() and ord(c) not in have))
        if missing:
            found.append((text, missing))
    return found


def _glyph_warnings(code: str, figs: dict[str, Figure], family: str) -> None:
    """Warn once per grid and text whose characters the board font cannot draw (BoardTextWarning)."""
    kinds = {"board": _("notice board"), "card": _("contact card")}
    seen: dict[str, tuple[str, list[str]]] = {}
    for kind, fig in figs.items():
        for text, missing in _undrawable(fig, family):
            entry = seen.setdefault(text, (missing, []))
            if kinds[kind] not in entry[1]:
                entry[1].append(kinds[kind])
    for text, (missing, where) in seen.items():
        shown = "".join(c if c.isprintable() else "�" for c in text)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        chars = " ".join(f"U+{ord(c):04X}" + (f" {c}" if c.isprintable() else "") for c in missing)
        warnings.warn(BoardTextWarning(
            _("grid {code}, {where}: the text “{text}” has characters the font {font} cannot draw "
              "({chars}); they print as empty boxes: correct the text, or write them in by hand").format(
                code=code, where=" / ".join(where), text=shown, font=family, chars=chars)), stacklevel=3)  # fmt: skip


def render_board(  # noqa: PLR0913 - one board's content and its printing choices
    grid_code: str,
    grids: gpd.GeoDataFrame,
    staff: Any,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    dedicated: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    rivers: gpd.GeoDataFrame | None = None,
    supervision_phone: str = DEFAULT_SUPERVISION_PHONE,
    paper: str = "A4",
) -> Figure:
    """Draw the notice board of one grid.

    Parameters
    ----------
    grid_code : str
        The grid's ``grid_code`` (or ``grid_id`` when the layer has no codes).
    grids : geopandas.GeoDataFrame
        The whole grid layer (neighbours are drawn from it); any CRS.
    staff : StaffPlan or pandas.DataFrame
        A staff plan or its ``assignments`` table (:func:`gridgeo.export.assign_staff`).
    buildings, dedicated : geopandas.GeoDataFrame, optional
        Building footprints and dedicated units (any CRS) to draw on the map.
    roads, rivers : geopandas.GeoDataFrame, optional
        The district's roads and rivers (any CRS, with ``name``): drawn and named on the map,
        so that residents find their grid by its streets.
    supervision_phone : str
        The supervision phone (监督电话) printed on the board.
    paper : {"A4", "A3"}

    Returns
    -------
    matplotlib.figure.Figure
        Save it inside ``matplotlib.rc_context(PDF_RC)`` to embed TrueType fonts.

    Warns
    -----
    BoardTextWarning
        For each text on the board with characters the board font cannot draw.
    """
    ctx = _Context.build(grids, buildings, dedicated, roads, rivers)
    with matplotlib.rc_context(PDF_RC):
        fig = _board(ctx, str(grid_code), _assignments(staff), supervision_phone, _paper(paper))
    _glyph_warnings(str(grid_code), {"board": fig}, cjk_family())
    return fig


def render_card(grid_code: str, grids: gpd.GeoDataFrame, staff: Any, *,
                supervision_phone: str = DEFAULT_SUPERVISION_PHONE, paper: str = "A4") -> Figure:  # fmt: skip
    """Draw a page of identical contact cards (民情联系卡, 90 x 54 mm) of one grid, to cut out.

    Parameters
    ----------
    grid_code, grids, staff, supervision_phone, paper
        As for :func:`render_board`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ctx = _Context.build(grids, None, None)
    with matplotlib.rc_context(PDF_RC):
        fig = _cards(ctx, str(grid_code), _assignments(staff), supervision_phone, _paper(paper))
    _glyph_warnings(str(grid_code), {"card": fig}, cjk_family())
    return fig


def write_boards(  # noqa: PLR0913 - the board's printing choices a planner sets (street, papers, dpi, phone, buildings, sites ...)
    grids: gpd.GeoDataFrame,
    staff: Any,
    out: str | os.PathLike,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    dedicated: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    rivers: gpd.GeoDataFrame | None = None,
    street: str | None = None,
    grid_codes: Iterable[str] | None = None,
    papers: Sequence[str] = ("A4",),
    supervision_phone: str = DEFAULT_SUPERVISION_PHONE,
    png: bool = True,
    dpi: int = 100,
) -> list[Path]:
    """Print the boards and contact cards of a street's grids (or of all streets) in one batch.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grid layer with ``grid_code`` (or ``grid_id``), ``community_code``, ``households``,
        ``residents`` and geometry; not modified.
    staff : StaffPlan or pandas.DataFrame
        Who serves which grid.
    out : path-like
        Folder for the files (created).
    buildings, dedicated : geopandas.GeoDataFrame, optional
        Drawn on each grid's map.
    roads, rivers : geopandas.GeoDataFrame, optional
        Drawn and named on each grid's map (with ``name``).
    street : str, optional
        9-digit street (街道/镇) code, or a 12-digit code of it; default every street.
    grid_codes : iterable of str, optional
        Print only these grids (the rest of the layer still shows as neighbours).
    papers : sequence of {"A4", "A3"}
        One PDF per street and paper size.
    supervision_phone : str
        The supervision phone printed on every board and card.
    png : bool
        Also write a PNG of every page (``{code}_board.png``, ``{code}_card.png``; in the
        first paper size).
    dpi : int
        Resolution of the PNGs.

    Returns
    -------
    list of pathlib.Path
        The files written: ``boards_{street}_{paper}.pdf`` per street and paper, then the PNGs.

    Raises
    ------
    InputError
        When the layer lacks what a board prints, the street has no grid, or a grid has no
        full-time worker in the staff plan (S1).

    Warns
    -----
    BoardTextWarning
        For each grid and text on its board or card with characters the board font cannot draw
        (they print as empty boxes; the files are written all the same).
    """
    key = check_grids(grids, need=("community_code", "households", "residents"))
    papers = [_paper(p) for p in papers]
    table = _assignments(staff)
    codes = grids[key].astype(str)
    streets = grids["community_code"].astype(str).str[:9]
    chosen = pd.Series(True, index=grids.index)
    if street is not None:
        chosen &= streets == street_of(street)
        if not chosen.any():
            raise InputError([Problem("grids", None, _("no grid lies in street {street}").format(street=street))])
    if grid_codes is not None:
        wanted = {str(c) for c in grid_codes}
        unknown = sorted(wanted - set(codes))
        if unknown:
            raise InputError([Problem("grids", c, _("no such grid in the layer")) for c in unknown])
        chosen &= codes.isin(wanted)
    staffed = set(table.loc[table["role"].isin(["leader", "full_time"]), "grid_code"].astype(str))
    unstaffed = [c for c in sorted(codes[chosen]) if c not in staffed]
    if unstaffed:
        raise InputError(
            [Problem("staff", c, _("no full-time worker (S1): assign staff first")) for c in unstaffed]
        )

    check_photos(table)
    bad = [qr_problem(url, source="staff", feature_id=c) for c in sorted(codes[chosen]) if (url := _qr_url(table, c))]
    if any(bad):
        raise InputError([p for p in bad if p is not None])
    ctx = _Context.build(grids, buildings, dedicated, roads, rivers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pngs: list[Path] = []
    family = cjk_family()
    with matplotlib.rc_context(PDF_RC), warnings.catch_warnings():
        # matplotlib's own warning names neither the grid nor the text: BoardTextWarning does.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        for st in sorted(streets[chosen].unique()):
            todo = sorted(codes[chosen & (streets == st)])
            for k, size in enumerate(papers):
                name = next(n for n, s in PAPERS.items() if s == size)
                # Codes and streets come from the data: sanitised, and kept inside ``out``.
                target = output_file(out, f"boards_{safe_name(st)}_{name}.pdf")
                with atomic_path(target) as tmp, PdfPages(tmp, metadata=PDF_METADATA) as pdf:
                    for code in todo:
                        figs = {"board": _board(ctx, code, table, supervision_phone, size),
                                "card": _cards(ctx, code, table, supervision_phone, size)}  # fmt: skip
                        if k == 0:
                            _glyph_warnings(code, figs, family)
                        for kind, fig in figs.items():
                            pdf.savefig(fig)
                            if png and k == 0:
                                path = output_file(out, f"{safe_name(code)}_{kind}.png")
                                with atomic_path(path) as ptmp:
                                    fig.savefig(ptmp, format="png", dpi=dpi, metadata=PNG_METADATA)
                                pngs.append(path)
                written.append(target)
    return written + pngs


def _paper(paper: str) -> tuple[float, float]:
    size = PAPERS.get(str(paper).upper())
    if size is None:
        raise InputError(
            [Problem("paper", None, _("unknown paper {paper!r}; use one of {papers}").format(paper=paper, papers=", ".join(PAPERS)))]
        )
    return size


def _assignments(staff: Any) -> pd.DataFrame:
    table = getattr(staff, "assignments", staff)
    need = ("grid_code", "name", "phone", "role")
    if not isinstance(table, pd.DataFrame) or any(c not in table.columns for c in need):
        raise InputError(
            [Problem("staff", None, _("expected a staff plan or a table with {columns}").format(columns=", ".join(need)))]
        )
    t = table.copy()
    for col in ("duties", "photo", "role_label", "qr_url"):
        if col not in t:
            t[col] = ""
    t["grid_code"] = t["grid_code"].astype(str)
    return t.fillna("")


class _Layers:
    """One layer under a name (what :func:`layer_of` reads)."""

    def __init__(self, layer):
        self.layer = layer


class _Context:
    """The layers every page of a batch draws, in one metric CRS."""

    def __init__(self, grids, key, buildings, dedicated, streets=None):
        self.grids = grids
        self.key = key
        self.buildings = buildings
        self.dedicated = dedicated
        #: "road"/"river" -> (the lines as drawn, the lines merged by name), metric CRS.
        self.streets = streets or {}
        self.index = {c: i for i, c in enumerate(grids[key].astype(str))}
        self.family = cjk_family()

    @classmethod
    def build(cls, grids, buildings, dedicated, roads=None, rivers=None) -> _Context:
        key = check_grids(grids)
        crs = metric_crs(grids)
        g = grids.to_crs(crs).reset_index(drop=True)
        b = buildings.to_crs(crs) if buildings is not None and len(buildings) else None
        d = dedicated.to_crs(crs) if dedicated is not None and len(dedicated) else None
        streets = {}
        for kind, layer in (("river", rivers), ("road", roads)):
            layer = layer_of(_Layers(layer), "layer")
            if layer is not None:
                streets[kind] = (layer.to_crs(crs), named_lines(layer, crs))
        return cls(g, key, b, d, streets)

    def row(self, code: str) -> pd.Series:
        if code not in self.index:
            raise InputError([Problem("grids", code, _("no such grid in the layer"))])
        return self.grids.iloc[self.index[code]]


def _label(row: pd.Series) -> dict[str, str]:
    code12 = str(row.get("community_code", ""))
    street = division_name(code12[:9] + "000") if len(code12) >= 9 else None
    cls = str(row.get("grid_class", "community") or "community")
    kind = _CLASS_LABEL.get(cls, cls)
    dc = str(row.get("dedicated_class", "") or "")
    if cls == "dedicated" and dc:
        kind += f"（{_DEDICATED_LABEL.get(dc, dc)}）"
    return {
        "street": street or (code12[:9] if code12 else ""),
        "community": str(row.get("community_name", "") or code12),
        "kind": kind,
        "households": f"{int(row.get('households', 0) or 0)}",
        "residents": f"{int(row.get('residents', 0) or 0)}",
    }


def _people(table: pd.DataFrame, code: str) -> pd.DataFrame:
    """The grid's people in board order; a 网格长 line (待定) when none is named (办法 9)."""
    order = {"leader": 0, "full_time": 1, "part_time": 2, "instructor": 3}
    mine = table[table["grid_code"] == code]
    if not (mine["role"] == "leader").any():
        vacant = {col: "" for col in table.columns}
        vacant.update(grid_code=code, name=TO_BE_NAMED, role="leader", role_label=ROLE_LABELS["leader"])
        mine = pd.concat([pd.DataFrame([vacant], columns=table.columns), mine], ignore_index=True)
    return mine.assign(_o=mine["role"].map(order).fillna(9)).sort_values(
        ["_o", "name"], kind="stable"
    )


def _qr_url(table: pd.DataFrame, code: str) -> str:
    """The grid's QR link: the first one among its people in board order (网格长 first), or ""."""
    people = _people(table, code)
    links = [expand(u, code) for u in people["qr_url"] if str(u).strip()] if "qr_url" in people else []
    return links[0] if links else ""


#: The QR tile in the board's top-right corner, inches on A4 (scaled on A3): its margin from
#: the page edges, the white around the code (at least two modules of quiet zone) and the
#: height of the caption line.
QR_MARGIN, QR_PAD, QR_CAPTION = 0.05, 0.05, 0.13
QR_CAPTION_TEXT = "扫码进群"


def qr_box(size: tuple[float, float]) -> tuple[float, float, float]:
    """Where a board's QR code is printed: ``(left, bottom, side)`` in inches from the page's bottom left.

    The code sits in a white tile in the top-right corner of the red title band, the caption
    扫码进群 under it; nothing else on the page moves. On A4 the code is 17 mm wide.
    """
    s = size[0] / PAPERS["A4"][0]
    band = 0.085 * size[1]
    side = band - 2 * QR_MARGIN * s - 2 * QR_PAD * s - QR_CAPTION * s
    left = size[0] - QR_MARGIN * s - QR_PAD * s - side
    bottom = size[1] - QR_MARGIN * s - QR_PAD * s - side
    return left, bottom, side


def _qr_corner(fig: Figure, url: str, code: str, s: float, f: str) -> None:
    """Draw the grid's QR code (one vector path) and its caption in the top-right corner."""
    problem = qr_problem(url, source="staff", feature_id=code)
    if problem is not None:
        raise InputError([problem])
    size = (fig.get_figwidth(), fig.get_figheight())
    left, bottom, side = qr_box(size)
    pad = QR_PAD * s
    tile_bottom = bottom - QR_CAPTION * s - pad
    inches = fig.dpi_scale_trans
    fig.add_artist(Rectangle((left - pad, tile_bottom), side + 2 * pad, side + QR_CAPTION * s + 2 * pad,
                             transform=inches, facecolor="white", edgecolor="none", zorder=2))  # fmt: skip
    fig.add_artist(PathPatch(qr_path(qr_matrix(url), left, bottom, side), transform=inches,
                             facecolor="black", edgecolor="none", linewidth=0, zorder=2.5))  # fmt: skip
    fig.text((left + side / 2) / size[0], (tile_bottom + QR_CAPTION * s / 2 + pad / 2) / size[1], QR_CAPTION_TEXT,
             ha="center", va="center", size=8 * s, family=f, color=_RED)  # fmt: skip


#: Punctuation that never starts a line (规范的避头点) and that never ends one (避尾点).
_NO_START = set("，。、；：？！）」』》〉】’”…·,.;:?!)%")
_NO_END = set("（「『《〈【‘“(")
#: Punctuation after which a line break reads naturally (between two duties or clauses).
_SOFT_BREAK = set("，。、；：,;")


def _width(text: str) -> float:
    return sum(0.5 if ord(ch) < 0x2E80 else 1.0 for ch in text)


def _tokens(text: str) -> list[str]:
    """Unbreakable pieces: a CJK character with the punctuation that must follow it, or a Latin word."""
    out: list[str] = []
    for ch in str(text):
        latin = ord(ch) < 0x2E80 and not ch.isspace() and ch not in _NO_START
        if out and (ch in _NO_START or (latin and _is_latin(out[-1])) or out[-1][-1] in _NO_END):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _is_latin(token: str) -> bool:
    last = token[-1]
    return ord(last) < 0x2E80 and not last.isspace() and last not in _NO_START


def _wrap(text: str, width: float) -> list[str]:
    """Wrap mixed CJK/Latin text to ``width`` full-width characters, as Chinese typesetting does.

    No line starts with closing punctuation (，。、）…) nor ends with an opening one, a Latin word
    is never split, a break after 、，； is preferred when it is near the line's end, and the
    last line never holds a single orphan character (one is taken down from the line above).
    """
    lines: list[list[str]] = [[]]
    for tok in _tokens(text):
        line = lines[-1]
        if line and _width("".join(line)) + _width(tok) > width:
            soft = [i for i, t in enumerate(line) if t[-1] in _SOFT_BREAK]
            cut = soft[-1] + 1 if soft and _width("".join(line[: soft[-1] + 1])) >= 0.5 * width else len(line)
            lines[-1], rest = line[:cut], line[cut:]
            lines.append(rest)
            line = lines[-1]
        if tok.strip() or line:
            line.append(tok)
    lines = [ln for ln in lines if ln]
    if len(lines) > 1 and _width("".join(lines[-1]).strip()) <= 1 and len(lines[-2]) > 2:
        lines[-1].insert(0, lines[-2].pop())  # no orphan: two characters at least on the last line
    return ["".join(ln).strip() for ln in lines]


def _fit(lines: list[str], count: int) -> list[str]:
    """At most ``count`` lines; a cut text ends in an ellipsis."""
    if len(lines) <= count:
        return lines
    kept = lines[:count]
    kept[-1] = kept[-1][:-1] + "…"
    return kept


def _board(ctx: _Context, code: str, table: pd.DataFrame, phone: str, size) -> Figure:
    row = ctx.row(code)
    lab = _label(row)
    fig = Figure(figsize=size)
    s = size[0] / PAPERS["A4"][0]  # font scale: A3 prints larger
    f = ctx.family
    fig.patches.append(Rectangle((0, 0.915), 1, 0.085, transform=fig.transFigure, color=_RED))
    fig.text(
        0.5, 0.965, "网格公示牌", ha="center", va="center", color="white", size=30 * s, family=f
    )
    fig.text(
        0.5,
        0.93,
        f"{lab['street']} · {lab['community']}",
        ha="center",
        va="center",
        color="white",
        size=13 * s,
        family=f,
    )
    fig.text(0.05, 0.893, "网格编码", size=11 * s, family=f, va="center", color="#444")
    fig.text(0.17, 0.893, code, size=17 * s, family=f, va="center")
    facts = f"{lab['kind']}    户数 {lab['households']} 户    人口 {lab['residents']} 人"
    fig.text(0.05, 0.866, facts, size=11 * s, family=f, va="center")

    url = _qr_url(table, code)
    if url:
        _qr_corner(fig, url, code, s, f)

    people = _people(table, code)
    n = len(people)
    cols = 1 if n <= 2 else 2
    rows = max(1, -(-n // cols))
    bottom = 0.085
    width = 0.9 if cols == 1 else 0.44
    # Tall enough for the longest duties (up to PERSON_HEIGHT_MAX), never more than half the page.
    lines = max((len(_duty_lines(r, width, PERSON_HEIGHT * 0.94, size, s)) for r in people.itertuples(index=False)),
                default=1)  # fmt: skip
    h = min(max(PERSON_HEIGHT, (0.074 + 0.012 + (lines - 1) * DUTIES_LEADING) / 0.94), PERSON_HEIGHT_MAX)
    h = min(h, 0.5 / rows)
    staff_top = bottom + rows * h
    # The map takes every bit of the page the people do not need.
    ax = fig.add_axes((0.05, staff_top + 0.04, 0.9, 0.85 - staff_top - 0.045))
    _map(ax, ctx, row, s)
    fig.text(0.05, staff_top + 0.018, "网格工作人员", size=14 * s, family=f, va="center", color=_RED)
    for k, r in enumerate(people.itertuples(index=False)):
        x0 = 0.05 + (k % cols) * 0.46
        y0 = staff_top - (k // cols + 1) * h
        _person(fig, r, x0, y0, width, h * 0.94, s, f)
    fig.patches.append(Rectangle((0, 0), 1, 0.07, transform=fig.transFigure, color="#f3e3e1"))
    fig.text(0.05, 0.035, f"监督电话：{phone}", size=16 * s, family=f, va="center", color=_RED)
    fig.text(
        0.95,
        0.035,
        "网格员接受社会监督 · 民情联系卡请向网格员索取",
        size=9 * s,
        family=f,
        va="center",
        ha="right",
        color="#555",
    )
    return fig


def _duty_lines(r, w: float, h: float, size: tuple[float, float], s: float) -> list[str]:
    """A person's duties wrapped to the text column of a box ``w`` x ``h`` (page fractions)."""
    pw = min(h, PERSON_HEIGHT * 0.94) * 0.75 * (size[1] / size[0])  # the photo box, as _person draws it
    # Characters per line at DUTIES_PT: the text column's width in points over the font size.
    chars = (w - pw - 0.03) * size[0] * 72 / (DUTIES_PT * s)
    duties = r.duties or DEFAULT_DUTIES.get(r.role, "")
    return _wrap(f"职责：{duties}", max(8.0, chars - 0.5))


def _person(fig: Figure, r, x0: float, y0: float, w: float, h: float, s: float, f: str) -> None:
    fig.patches.append(
        Rectangle((x0, y0), w, h, transform=fig.transFigure, fill=False, ec="#bbb", lw=0.6)
    )
    ph = min(h, PERSON_HEIGHT * 0.94)  # a 3:4 photo box at the top: it does not grow with the duties
    pw = ph * 0.75 * (fig.get_figheight() / fig.get_figwidth())
    pax = fig.add_axes((x0 + 0.008, y0 + h - ph + 0.008, pw, ph - 0.016))
    pax.set_xticks([])
    pax.set_yticks([])
    photo = str(getattr(r, "photo", "") or "")
    if photo and Path(photo).is_file():
        problem = photo_problem(photo, source="staff", feature_id=str(getattr(r, "worker_id", "") or r.name))
        if problem is not None:  # checked before a single pixel is decoded
            raise InputError([problem])
        try:
            pax.imshow(matplotlib.image.imread(photo), aspect="auto")
        except (OSError, ValueError, SyntaxError):
            pax.text(0.5, 0.5, "照片", ha="center", va="center", family=f, size=9 * s, color="#999")
    else:
        pax.text(0.5, 0.5, "照片", ha="center", va="center", family=f, size=9 * s, color="#999")
    tx = x0 + pw + 0.02
    label = r.role_label or ROLE_LABELS.get(r.role, r.role)
    fig.text(tx, y0 + h - 0.014, label, size=10 * s, family=f, color=_RED, va="center")
    fig.text(tx, y0 + h - 0.034, r.name, size=15 * s, family=f, va="center")
    fig.text(tx, y0 + h - 0.055, f"电话 {r.phone}" if r.phone else "电话 待定", size=11 * s, family=f, va="center")
    room = max(1, int((h - 0.074 - 0.008) / DUTIES_LEADING) + 1)
    for j, line in enumerate(_fit(_duty_lines(r, w, h, (fig.get_figwidth(), fig.get_figheight()), s), room)):
        fig.text(tx, y0 + h - 0.074 - j * DUTIES_LEADING, line, size=DUTIES_PT * s, family=f,
                 va="center", color="#333")  # fmt: skip


def _map(ax, ctx: _Context, row: pd.Series, s: float) -> None:
    geom = row.geometry
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * 0.15 + 30
    # Fit the map box's aspect (0.9 x 0.38 of the page).
    box = ax.get_position()
    fig = ax.figure
    aspect = (box.width * fig.get_figwidth()) / (box.height * fig.get_figheight())
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w = (maxx - minx) / 2 + pad
    half_h = (maxy - miny) / 2 + pad
    if half_w / half_h < aspect:
        half_w = half_h * aspect
    else:
        half_h = half_w / aspect
    view = shapely.box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    ax.set_xlim(cx - half_w, cx + half_w)
    ax.set_ylim(cy - half_h, cy + half_h)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    g = ctx.grids
    near = g[g.intersects(view)]
    key = ctx.key
    code = str(row[key])
    others = near[near[key].astype(str) != code]
    if len(others):
        others.plot(ax=ax, facecolor="#f4f4f4", edgecolor="#888", linewidth=0.8)
        for orow in others.itertuples(index=False):
            pt = shapely.point_on_surface(
                shapely.intersection(getattr(orow, g.geometry.name), view)
            )
            if not pt.is_empty:
                ax.text(pt.x, pt.y, short_code(str(getattr(orow, key))), ha="center", va="center",
                        size=7 * s, color="#777", family=ctx.family)  # fmt: skip
    gpd.GeoSeries([geom], crs=g.crs).plot(ax=ax, facecolor="#fdeceb", edgecolor="none")
    _streets(ax, ctx, view, s)
    if ctx.dedicated is not None:
        d = ctx.dedicated[ctx.dedicated.intersects(view)]
        if len(d):
            d.plot(ax=ax, facecolor="none", edgecolor="#e0821e", hatch="///", linewidth=0.8)
    if ctx.buildings is not None:
        b = ctx.buildings[ctx.buildings.intersects(view)]
        if len(b):
            b.plot(ax=ax, facecolor="#8a8a8a", edgecolor="#555", linewidth=0.3, markersize=4)
    gpd.GeoSeries([geom], crs=g.crs).boundary.plot(ax=ax, color=_RED, linewidth=2.2)
    ax.set_xlabel("")
    ax.set_ylabel("")
    # North arrow (the Gauss-Krüger grid north is within a degree or so of true north here).
    ax.add_patch(FancyArrow(0.94, 0.83, 0, 0.1, width=0.012, head_width=0.035, head_length=0.05,
                            transform=ax.transAxes, color="black"))  # fmt: skip
    ax.text(
        0.94,
        0.78,
        "北 N",
        transform=ax.transAxes,
        ha="center",
        va="center",
        size=9 * s,
        family=ctx.family,
    )
    _scalebar(ax, 2 * half_w, s, ctx.family)
    legend = "红线：本网格    灰块：建筑    橙色斜线：专属单位    灰线：相邻网格    黄线：道路    蓝线：河流"
    ax.text(0.01, 0.01, legend, transform=ax.transAxes, size=8 * s, family=ctx.family, va="bottom",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})  # fmt: skip


#: How roads and rivers are drawn on a board's map: (colour, width in pt, name colour).
_STREET_STYLE = {"road": ("#e8c46a", 4.0, "#5a4a2f"), "river": ("#8fbde8", 5.0, "#2f6ea8")}


def _streets(ax, ctx: _Context, view, s: float) -> None:
    """The roads and rivers in the view, each name written along its longest stretch."""
    # A light box, not a stroke path effect: path effects turn text into outlines, and the
    # names must stay text in the PDF (searchable, editable by the print shop).
    halo = {"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.6}
    for kind, (lines, merged) in ctx.streets.items():
        colour, width, ink = _STREET_STYLE[kind]
        near = lines[lines.intersects(view)]
        if not len(near):
            continue
        polys = near[near.geom_type.str.endswith("Polygon")]
        if len(polys):
            polys.plot(ax=ax, facecolor=colour, edgecolor=colour, linewidth=0.5, alpha=0.7)
        lines_only = near[~near.geom_type.str.endswith("Polygon")]
        if len(lines_only):
            lines_only.plot(ax=ax, color=colour, linewidth=width * s, capstyle="round")
        for name, angle, pt in zip(*_labels_in(merged, view), strict=True):
            ax.text(pt.x, pt.y, name, rotation=angle, rotation_mode="anchor", ha="center",
                    va="center", size=9 * s, color=ink, family=ctx.family, bbox=halo,
                    clip_on=True)  # fmt: skip


def _labels_in(merged: gpd.GeoDataFrame, view) -> tuple[list, list, list]:
    # Inset a little: a name cut by the frame helps nobody.
    points = label_points(merged, view=view.buffer(-0.04 * (view.bounds[2] - view.bounds[0])))
    return list(points["name"]), list(points["angle"]), list(points.geometry)


def _scalebar(ax, width_m: float, s: float, family: str) -> None:
    target = width_m / 5
    nice = [10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000]
    length = max([v for v in nice if v <= target] or [nice[0]])
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    left = x1 - (x1 - x0) * 0.04 - length
    base = y0 + (y1 - y0) * 0.06
    tick = (y1 - y0) * 0.012
    ax.plot(
        [left, left + length], [base, base], color="black", linewidth=2.5, solid_capstyle="butt"
    )
    ax.plot([left, left], [base - tick, base + tick], color="black", linewidth=1)
    ax.plot([left + length, left + length], [base - tick, base + tick], color="black", linewidth=1)
    text = f"{length // 1000:g} 千米" if length >= 1000 else f"{length} 米"
    ax.text(
        left + length / 2,
        base + 2 * tick,
        text,
        ha="center",
        va="bottom",
        size=8 * s,
        family=family,
    )


def _cards(ctx: _Context, code: str, table: pd.DataFrame, phone: str, size) -> Figure:
    row = ctx.row(code)
    lab = _label(row)
    fig = Figure(figsize=size)
    f = ctx.family
    cw, ch = 90 / 25.4 / size[0], 54 / 25.4 / size[1]
    ncol = int(size[0] // (95 / 25.4))
    nrow = int((size[1] - 0.8) // (58 / 25.4))
    gx = (1 - ncol * cw) / (ncol + 1)
    gy = (1 - 0.8 / size[1] - nrow * ch) / (nrow + 1)
    fig.text(
        0.5,
        1 - 0.4 / size[1],
        f"民情联系卡 · {code}（沿线剪下，发放到户）",
        ha="center",
        va="center",
        size=10,
        family=f,
        color="#555",
    )
    people = _people(table, code)
    lines = [
        f"{(r.role_label or ROLE_LABELS.get(r.role, r.role))}  {r.name}  {r.phone}"
        for r in people.itertuples(index=False)
    ]
    if len(lines) > CARD_LINES:  # a card holds five lines: the rest are on the board
        lines = lines[: CARD_LINES - 1] + [
            f"另有 {len(lines) - CARD_LINES + 1} 名网格员，见网格公示牌"
        ]
    for i in range(nrow):
        for j in range(ncol):
            x0 = gx + j * (cw + gx)
            y0 = gy + i * (ch + gy)
            fig.patches.append(
                Rectangle(
                    (x0, y0),
                    cw,
                    ch,
                    transform=fig.transFigure,
                    fill=False,
                    ec="#999",
                    lw=0.6,
                    ls="--",
                )
            )
            fig.patches.append(
                Rectangle(
                    (x0, y0 + ch * 0.78), cw, ch * 0.22, transform=fig.transFigure, color=_RED
                )
            )
            fig.text(
                x0 + cw / 2,
                y0 + ch * 0.89,
                "民情联系卡",
                ha="center",
                va="center",
                size=12,
                family=f,
                color="white",
            )
            fig.text(
                x0 + 0.02,
                y0 + ch * 0.7,
                f"{lab['community']} · 网格 {code}",
                size=6.5,
                family=f,
                va="center",
            )
            for k, line in enumerate(lines):
                fig.text(x0 + 0.02, y0 + ch * (0.56 - k * 0.1), line, size=7, family=f, va="center")
            fig.text(
                x0 + 0.02,
                y0 + ch * 0.07,
                f"监督电话 {phone}",
                size=7.5,
                family=f,
                va="center",
                color=_RED,
            )
    return fig
