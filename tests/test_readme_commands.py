"""The READMEs' commands exist as printed (issue 18: a planner follows README.zh-CN.md from a fresh clone).

Every ``./run ...`` and ``.venv/bin/gridgeo ...`` line of the shell blocks, and every inline
`` `.venv/bin/gridgeo ...` ``, is parsed by gridgeo's own argument parser (nothing is run); the
files under ``data/`` they name are shipped; the Python blocks' imports resolve.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gridgeo.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.zh-CN.md", "README.md")
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`(\.venv/bin/gridgeo [^`]+)`")


def _blocks(text: str, lang: str) -> list[str]:
    return [body for kind, body in _BLOCK.findall(text) if kind == lang]


def commands(readme: str) -> list[str]:
    """The shell commands a README prints: block lines (comments cut, ``\\`` joined) and inline ones."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    found = []
    for body in _blocks(text, "sh"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith(("./run", ".venv/bin/gridgeo")):
                found.append(line)
    prose = _BLOCK.sub("", text)
    found += [" ".join(m.split()) for m in _INLINE.findall(prose)]
    return found


def test_the_chinese_readme_starts_from_run_sample_and_reaches_the_boards():
    cmds = commands("README.zh-CN.md")
    assert cmds[0] == "./run sample"
    boards = [c for c in cmds if shlex.split(c)[1:2] == ["boards"] or " boards " in c]
    assert boards and any("--roster data/samples/qingdao_roster.csv" in c for c in boards)


@pytest.mark.parametrize("readme", READMES)
def test_every_printed_command_parses(readme):
    parser = build_parser()
    run_script = (ROOT / "run").read_text(encoding="utf-8")
    cmds = commands(readme)
    assert cmds
    for cmd in cmds:
        argv = shlex.split(cmd)
        if argv[0] == "./run":
            assert re.search(rf"^\s*{re.escape(argv[1])}\)", run_script, re.M), cmd
            continue
        try:
            args = parser.parse_args(argv[1:])
        except SystemExit as exc:  # argparse refused it (unknown command or option, missing argument)
            if exc.code != 0 or "--help" not in argv:
                pytest.fail(f"{readme}: {cmd!r} does not parse (exit {exc.code})")
            continue
        assert callable(args.func), cmd
        for word in argv[1:]:
            if word.startswith("data/"):
                assert (ROOT / word).exists(), f"{readme}: {cmd!r} names {word}, which the repo does not ship"


@pytest.mark.parametrize("readme", READMES)
def test_python_blocks_import_what_exists(readme):
    text = (ROOT / readme).read_text(encoding="utf-8")
    for body in _blocks(text, "python"):
        compile(body, readme, "exec")
        imports = "\n".join(ln for ln in body.splitlines() if ln.startswith(("import ", "from ")))
        exec(compile(imports, readme, "exec"), {})  # noqa: S102 - the README's own import lines


def test_the_shipped_roster_staffs_the_sample_and_is_fake(sample_result):
    from gridgeo.coding import assign_codes
    from gridgeo.export import assign_staff
    from gridgeo.export.roster import read_roster

    roster = read_roster(ROOT / "data/samples/qingdao_roster.csv")
    assert roster["name"].str.endswith("（样例）").all() and roster["phone"].str.startswith("138-0000-").all()
    links = roster.loc[roster["qr_url"] != "", "qr_url"]
    assert len(links) and links.str.startswith("https://example.org/").all()
    grids = assign_codes(sample_result.grids)
    plan = assign_staff(grids, roster, time_limit=1.0)
    staffed = plan.assignments.loc[plan.assignments["role"].isin(["leader", "full_time"]), "grid_code"]
    assert set(staffed) == set(grids["grid_code"])
