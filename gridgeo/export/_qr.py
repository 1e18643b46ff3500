"""The QR code of a grid's board (扫码进群, 规范 六.4): checked, encoded and drawn as vectors.

A roster (or staff) column ``qr_url`` gives the link a resident's phone opens, e.g. the grid's
WeChat group. ``{grid_code}`` in it is replaced by the grid's code, so that one worker who
serves several grids can give one pattern for all of them. The code is a regular QR code
(never a Micro QR, which few phone apps read) at error correction Q (a quarter of the symbol
may be soiled or torn), drawn module by module as one filled path: crisp at any print size.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gridgeo.errors import Problem
from gridgeo.i18n import _

#: Error correction level of the board's QR codes (Q: 25 % of the modules may be lost).
QR_ERROR = "q"
#: The largest QR version a board prints (57 x 57 modules): a larger symbol, in the board's
#: 17 mm corner (A4), has modules too small for a phone held at arm's length.
MAX_QR_VERSION = 10
#: Placeholder replaced by the grid's code.
GRID_PLACEHOLDER = "{grid_code}"
#: Link schemes a phone opens from a scanned code.
SCHEMES = ("http", "https")


def expand(url: str, grid_code: str) -> str:
    """The link of one grid: ``{grid_code}`` replaced by its code, spaces around stripped."""
    return str(url).strip().replace(GRID_PLACEHOLDER, str(grid_code))


def qr_problem(url: str, *, source: str, feature_id: str | None) -> Problem | None:
    """What is wrong with a QR link, or None.

    Parameters
    ----------
    url : str
        The link (after :func:`expand`, or with its placeholder: checked with a 19-digit code).
    source, feature_id : str
        Where the link is given (the file; the grid code or worker id).

    Returns
    -------
    Problem or None
        A problem when the link is not an ``http(s)://host/...`` address without spaces, or too
        long for a QR code of at most :data:`MAX_QR_VERSION` at error correction Q.
    """
    import segno

    text = expand(url, "0" * 19)
    try:
        parts = urlsplit(text)
        ok = parts.scheme.lower() in SCHEMES and bool(parts.hostname)
    except ValueError:  # a malformed address, e.g. an unclosed [IPv6 bracket
        ok = False
    if not ok or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return Problem(source, feature_id, _(
            "qr_url {url!r} is not a link: give an http:// or https:// address without spaces "
            "(e.g. the grid's WeChat group link)").format(url=str(url)[:80]))  # fmt: skip
    try:
        segno.make_qr(text, error=QR_ERROR, boost_error=False, version=MAX_QR_VERSION)
    except segno.DataOverflowError:
        return Problem(source, feature_id, _(
            "qr_url is {n} bytes long: too long for a QR code a phone reads from the board "
            "(version {version} at error correction Q holds about 150); use a shorter link").format(
            n=len(text.encode("utf-8")), version=MAX_QR_VERSION))  # fmt: skip
    return None


def qr_matrix(url: str) -> list[list[int]]:
    """The modules of a link's QR code, rows top to bottom, 1 dark, without the quiet zone.

    Parameters
    ----------
    url : str
        A link that :func:`qr_problem` accepts.

    Returns
    -------
    list of list of int
    """
    import segno

    code = segno.make_qr(url, error=QR_ERROR, boost_error=False)
    return [list(row) for row in code.matrix]


def qr_path(matrix: list[list[int]], x0: float, y0: float, size: float):
    """One matplotlib path of the dark modules, in a square of ``size`` at ``(x0, y0)`` (its bottom left).

    Each run of dark modules in a row is one rectangle, so the PDF holds a single filled path
    (no image, no hairlines between modules).

    Returns
    -------
    matplotlib.path.Path
    """
    from matplotlib.path import Path as MplPath

    n = len(matrix)
    m = size / n
    verts: list[tuple[float, float]] = []
    codes: list[int] = []
    for i, row in enumerate(matrix):
        top = y0 + size - i * m
        j = 0
        while j < n:
            if not row[j]:
                j += 1
                continue
            k = j
            while k < n and row[k]:
                k += 1
            left, right = x0 + j * m, x0 + k * m
            verts += [(left, top), (right, top), (right, top - m), (left, top - m), (left, top)]
            codes += [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY]
            j = k
    return MplPath(verts, codes)
