"""The language gridgeo speaks to a planner: Simplified Chinese or English, from a gettext catalogue.

Messages are written in English in the code and wrapped in :func:`_`; their Chinese lives in the
catalogue ``gridgeo/locale/zh_CN/LC_MESSAGES/gridgeo.po`` (compiled to ``gridgeo.mo`` beside it,
checked by the test suite to match). The language is chosen by ``--lang zh|en`` on the command
line, else by the locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``zh_*`` gives
Chinese), else English.

The words argparse prints itself ("usage:", "the following arguments are required") are in the
catalogue too, and argparse is given it, so the command line's help and errors come out in one
language.

Examples
--------
>>> set_language("zh")
'zh'
>>> _("findings: none")
'问题：无'
>>> set_language("en")
'en'
"""

from __future__ import annotations

import argparse
import gettext
import os
from importlib import resources

#: The languages gridgeo has a catalogue for (English is the code's own).
LANGUAGES: tuple[str, ...] = ("zh", "en")

DOMAIN = "gridgeo"

_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def localedir() -> str:
    """The folder holding gridgeo's compiled catalogues."""
    return str(resources.files("gridgeo") / "locale")


def from_environment(environ: dict[str, str] | None = None) -> str:
    """The language the locale asks for: ``zh`` for any ``zh_*`` locale, else ``en``.

    Parameters
    ----------
    environ : dict, optional
        The environment (default ``os.environ``).

    Returns
    -------
    str
    """
    env = os.environ if environ is None else environ
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "zh" if value.split(":")[0].lower().startswith("zh") else "en"
    return "en"


def set_language(lang: str | None = None) -> str:
    """Choose the language of every later message.

    Parameters
    ----------
    lang : {"zh", "en"} or None
        None takes it from the locale (:func:`from_environment`).

    Returns
    -------
    str
        The language now in use.

    Raises
    ------
    ValueError
        When ``lang`` is not one of :data:`LANGUAGES`.
    """
    global _current, _language
    lang = from_environment() if lang is None else lang
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    if lang == "zh":
        _current = gettext.translation(DOMAIN, localedir(), languages=["zh_CN"], fallback=True)
    else:
        _current = gettext.NullTranslations()
    # argparse looks its words up through its module's ``_`` and ``ngettext`` when it prints them.
    argparse._ = _current.gettext
    argparse.ngettext = _current.ngettext
    _language = lang
    return lang


def current_language() -> str:
    """The language in use (``zh`` or ``en``), as :func:`set_language` last chose it."""
    return _language


def N_(message: str) -> str:
    """Mark a message for the catalogue where it is defined; translate it with :func:`_` where used."""
    return message


def _(message: str) -> str:
    """The message in the language in use (the English text when the catalogue lacks it)."""
    return _current.gettext(message)


def catalogue_path(suffix: str = ".po") -> str:
    """The Chinese catalogue's file (``.po`` source, ``.mo`` compiled)."""
    return os.path.join(localedir(), "zh_CN", "LC_MESSAGES", DOMAIN + suffix)


def compile_catalogue() -> str:
    """Compile the ``.po`` catalogue to ``.mo`` (a developer's step; needs Babel).

    Run ``python -m gridgeo.i18n`` after editing the ``.po`` file; the test suite checks that the
    two agree and that every message in the code has its Chinese.

    Returns
    -------
    str
        The ``.mo`` file written.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(catalogue_path(".po"), "rb") as fh:
        catalog = read_po(fh)
    with open(catalogue_path(".mo"), "wb") as fh:
        write_mo(fh, catalog)
    return catalogue_path(".mo")


if __name__ == "__main__":  # pragma: no cover
    print(compile_catalogue())
