"""Messages in Simplified Chinese and English from one gettext catalogue."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from gridgeo import i18n
from gridgeo.cli import main

PACKAGE = Path(i18n.__file__).parent


@pytest.fixture(autouse=True)
def _english_after():
    yield
    i18n.set_language("en")


def _po():
    with open(i18n.catalogue_path(".po"), "rb") as fh:
        return read_po(fh)


def test_every_message_in_the_code_has_its_chinese():
    catalog = _po()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for lineno, msg, _comments, _ctx in extract_from_file("python", str(path), keywords={"_": None, "N_": None}):
            entry = catalog.get(msg)
            if entry is None or not entry.string:
                missing.append(f"{path.relative_to(PACKAGE)}:{lineno}: {msg!r}")
    assert not missing, "add to gridgeo.po and run python -m gridgeo.i18n:\n" + "\n".join(missing)


def test_compiled_catalogue_matches_its_source():
    catalog = _po()
    with open(i18n.catalogue_path(".mo"), "rb") as fh:
        mo = gettext.GNUTranslations(fh)
    for message in catalog:
        if message.id:
            assert mo.gettext(message.id) == message.string, message.id


def test_placeholders_survive_translation():
    import string

    for message in _po():
        if message.id and "{" in message.id:
            names = {f for _, f, _, _ in string.Formatter().parse(message.id) if f}
            assert names == {f for _, f, _, _ in string.Formatter().parse(message.string) if f}, message.id


def test_lang_flag_gives_chinese_help_and_errors(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["--lang", "zh", "run", "--help"])
    out = capsys.readouterr().out
    assert "用法：" in out and "输出文件夹" in out and "显示本帮助并退出" in out
    rc = main(["--lang", "zh", "run", "x.toml", "--out", str(tmp_path / "o"), "--lower", "600", "--upper", "500",
               "--seed", "-1"])
    err = capsys.readouterr().err
    assert rc == 2 and "错误" in err and "范围 [600, 500] 为空" in err and "--seed" in err


def test_locale_chooses_the_language(monkeypatch, capsys):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.from_environment() == "zh"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "输出文件夹" in capsys.readouterr().out
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "output folder" in capsys.readouterr().out
    with pytest.raises(ValueError):
        i18n.set_language("fr")


def test_land_use_classes_and_grid_statuses_have_their_chinese():
    """Named in notes and findings through ``_(cls)`` / ``_(status)``: every class of the schema
    and every status has an entry (a class added to the schema without one would print English)."""
    from gridgeo.partition.grids import GridStatus
    from gridgeo.schema import ABSORBABLE, DEDICATED

    words = sorted(ABSORBABLE | DEDICATED) + [s.value for s in GridStatus]
    i18n.set_language("zh")
    try:
        english = [w for w in words if not re.search(r"[\u4e00-\u9fff]", i18n._(w))]
    finally:
        i18n.set_language("en")
    assert not english, english
