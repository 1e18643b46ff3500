"""The CJK font the notice boards are set in.

No CJK font can be assumed on a planner's machine (nor on CI), so gridgeo depends on the PyPI
package ``noto-cjk-sans-otc`` (Noto Sans CJK, SIL Open Font License 1.1) and registers its
collection with matplotlib; the Simplified Chinese face is used. A Noto Sans CJK SC or Source Han
Sans SC that matplotlib already knows is taken as a fallback.
"""

from __future__ import annotations

from functools import cache

from matplotlib import font_manager

from gridgeo.errors import FontError
from gridgeo.i18n import _

#: Families tried in order (the first is the one the project installs).
FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Source Han Sans CN", "Noto Sans SC")


@cache
def cjk_family() -> str:
    """Register the bundled Noto Sans CJK collection and return the family to use.

    Returns
    -------
    str
        A matplotlib font family name with Simplified Chinese glyphs.

    Raises
    ------
    FontError
        When neither ``noto-cjk-sans-otc`` nor a known CJK font is installed.
    """
    try:
        import noto_cjk_sans_otc

        font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    except (ImportError, OSError, RuntimeError):
        pass
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in FAMILIES:
        if family in known:
            return family
    raise FontError(
        _("no CJK font for the notice boards: install gridgeo's dependency noto-cjk-sans-otc "
          "(pip install noto-cjk-sans-otc)")
    )


@cache
def drawable(family: str) -> frozenset[int]:
    """The code points the font of ``family`` has a glyph for: what matplotlib can draw with it.

    Parameters
    ----------
    family : str
        A family matplotlib knows, as from :func:`cjk_family`.

    Returns
    -------
    frozenset of int
    """
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    return frozenset(font_manager.get_font(path).get_charmap())
