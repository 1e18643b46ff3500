"""The export, staff, boards, rerun, review and edit messages in Simplified Chinese and English.

Each error is triggered through the real command line (or, for the review session, the library
call the page makes) with a small bad input; under ``--lang zh`` it must be Chinese, still name the
file or feature, and keep no English sentence; under ``--lang en`` it stays English.
"""

from __future__ import annotations

import re

import pytest

from gridgeo import i18n
from gridgeo.cli import main
from gridgeo.io import write_table

CJK = re.compile(r"[\u4e00-\u9fff]")
#: English sentence words that a Chinese message must not keep (ids, codes, options may be Latin).
ENGLISH = re.compile(r"\b(?:the|is|are|not|of|in|no|missing|column|grid|grids|give|use|found|needs|unknown|"
                     r"empty|refused|file|worker|workers|nothing)\b")  # fmt: skip


@pytest.fixture(autouse=True)
def _english_after():
    yield
    i18n.set_language("en")


@pytest.fixture(scope="module")
def files(first_community_files):
    folder, one, roster = first_community_files("i18n")
    bad = roster.drop(columns=["kind"]).assign(lon="east")  # a missing column: reported alone
    write_table(bad, folder / "bad_roster.csv")
    rows = roster.copy()
    rows.loc[0, "phone"] = ""
    rows.loc[1, "kind"] = "volunteer"
    write_table(rows, folder / "bad_rows.csv")
    return folder, one


def _error(capsys, argv: list[str], lang: str) -> str:
    assert main(["--lang", lang, *argv]) == 2
    captured = capsys.readouterr()
    return captured.err


def _chinese(message: str) -> str:
    """The message with its file paths, ids and codes left out: what must be Chinese.

    Each problem line starts with where it is: a file, an option or a layer name (``grids``),
    kept as the planner's files name them.
    """
    message = re.sub(r"^\s+\S+(?= \[|：)", " ", message, flags=re.MULTILINE)
    return re.sub(r"(/[^\s：:]+)|'[^']*'|\[[^\]]*\]", " ", message)


def assert_chinese(message: str, *names: str) -> None:
    assert CJK.search(message), message
    assert all(n in message for n in names), (names, message)
    assert not ENGLISH.search(_chinese(message)), message


def test_roster_errors_in_both_languages(files, capsys):
    folder, _ = files
    for roster, words_en, words_zh in (
        ("bad_roster.csv", ["missing column 'kind'"], ["缺少字段 'kind'"]),
        ("bad_rows.csv", ["empty phone", "unknown kind 'volunteer'"], ["电话 phone 为空", "未知类型 'volunteer'"]),
    ):
        argv = ["staff", str(folder / "grids.gpkg"), "--roster", str(folder / roster), "--out", str(folder / "s.csv")]
        zh = _error(capsys, argv, "zh")
        assert_chinese(zh, str(folder / roster), *words_zh)
        en = _error(capsys, argv, "en")
        assert not CJK.search(en.replace("专职/兼职/干部", "")), en  # only the kind hint is Chinese
        assert all(w in en for w in words_en), en


def test_missing_roster_and_bad_options(files, capsys):
    folder, _ = files
    argv = ["staff", str(folder / "grids.gpkg"), "--roster", str(folder / "nope.csv"), "--out", str(folder / "s.csv")]
    assert_chinese(_error(capsys, argv, "zh"), "nope.csv", "名册文件不存在")
    assert "roster file not found" in _error(capsys, argv, "en")
    argv = ["staff", str(folder / "grids.gpkg"), "--roster", str(folder / "roster.csv"), "--out",
            str(folder / "s.csv"), "--cap", "0"]  # fmt: skip
    assert_chinese(_error(capsys, argv, "zh"), "--cap", "不在 [1, 1000000] 范围内")
    assert "0 is not in [1, 1000000]" in _error(capsys, argv, "en")


def test_unknown_basemap_and_missing_grids(files, capsys):
    folder, _ = files
    argv = ["map", str(folder / "grids.gpkg"), "--out", str(folder / "m.html"), "--basemap", "nosuch"]
    assert_chinese(_error(capsys, argv, "zh"), "--basemap", "未知底图")
    assert "unknown basemap 'nosuch'" in _error(capsys, argv, "en")
    argv = ["map", str(folder / "none.gpkg"), "--out", str(folder / "m.html")]
    assert_chinese(_error(capsys, argv, "zh"), "none.gpkg", "文件不存在")
    assert "file not found" in _error(capsys, argv, "en")


def test_boards_refuse_a_missing_staff_file_and_print_chinese_lines(files, capsys):
    folder, one = files
    argv = ["boards", str(folder / "grids.gpkg"), "--staff", str(folder / "nope.csv"), "--out", str(folder / "b")]
    assert_chinese(_error(capsys, argv, "zh"), "nope.csv", "网格员文件不存在")
    assert "staff file not found" in _error(capsys, argv, "en")
    assert main(["--lang", "zh", "staff", str(folder / "grids.gpkg"), "--roster", str(folder / "roster.csv"),
                 "--out", str(folder / "staff.csv"), "--time-limit", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("网格员：") and f"{len(one)} 个网格" in out and "full-time" not in out
    assert main(["--lang", "zh", "map", str(folder / "grids.gpkg"), "--out", str(folder / "m.html")]) == 0
    assert f"{len(one)} 个网格的地图" in capsys.readouterr().out


def test_rerun_names_the_missing_previous_files(tmp_path, capsys):
    argv = ["rerun", "--communities", str(tmp_path / "c.gpkg"), "--buildings", str(tmp_path / "b.gpkg"),
            "--previous", str(tmp_path / "old"), "--out", str(tmp_path / "new")]  # fmt: skip
    zh = _error(capsys, argv, "zh")
    assert_chinese(zh, "grids.gpkg", "building_grid.csv", "应为上次运行的输出文件")
    en = _error(capsys, argv, "en")
    assert "missing: the previous run's output" in en and not CJK.search(en)


def test_review_refuses_an_open_address_without_token(tmp_path, capsys):
    argv = ["review", str(tmp_path), "--inputs", str(tmp_path / "x.toml"), "--host", "0.0.0.0"]
    assert_chinese(_error(capsys, argv, "zh"), "--host", "0.0.0.0", "--token")
    assert "needs --token SECRET" in _error(capsys, argv, "en")


def test_change_notes_follow_the_language():
    from gridgeo.batch.changes import _kept_row

    class Counts:
        added, removed, counts = {"A": 2}, {"A": 1}, {"A": 3}
        hh_before, hh_after = {"A": 10}, {"A": 12}

    i18n.set_language("zh")
    row = _kept_row("A", {"A": "OLD"}, Counts, 50.0, 1.0)
    assert row["notes"] == "社区代码由 OLD 改来; 新建 2 栋建筑，拆除 1 栋; 3 栋建筑的户数有变化; 边界调整（50 平方米）"
    i18n.set_language("en")
    row = _kept_row("A", {"A": "OLD"}, Counts, 50.0, 1.0)
    assert "re-coded from OLD" in row["notes"] and "2 building(s) built, 1 demolished" in row["notes"]


@pytest.fixture(scope="module")
def review_base(tmp_path_factory):
    return tmp_path_factory.mktemp("review-i18n")


def test_review_edits_say_why_in_chinese(review_base):
    from _review_sample import OPTIONS, district, sample_output

    from gridgeo import edit
    from gridgeo.errors import InputError

    rv = edit.open_review(sample_output(review_base), district(), options=OPTIONS)
    grid = next(r.grid_id for r in rv.table().itertuples() if r.grid_class == "community")
    i18n.set_language("zh")
    assert rv.undo().reasons == ("没有可撤销的操作",)
    assert rv.lock(grid).ok
    refused = rv.split(grid)
    assert not refused.ok and refused.reasons == (f"网格 {grid} 已锁定：请先解锁",)
    with pytest.raises(InputError) as exc:
        rv.lock("nope")
    assert_chinese(str(exc.value), "nope", "本次调整中没有该网格")
    i18n.set_language("en")
    assert rv.split(grid).reasons == (f"grid {grid} is locked: unlock it first",)


def test_review_page_is_served_in_the_language_in_use(review_base):
    from pathlib import Path

    from _review_sample import OPTIONS, district, sample_output
    from starlette.testclient import TestClient

    from gridgeo import edit
    from gridgeo.review import app

    # Every word of the page and its script is in the tables the catalogue check reads.
    html = (app.STATIC / "index.html").read_text(encoding="utf-8")
    js = (Path(app.STATIC) / "review.js").read_text(encoding="utf-8")
    assert set(re.findall(r"\{\{t:([^}]*)\}\}", html)) == set(app.PAGE_TEXTS)
    assert set(re.findall(r'\bT\("([^"]*)"', js)) <= set(app.SCRIPT_TEXTS)
    assert {"{op}: done", "{op}: refused"} <= set(app.SCRIPT_TEXTS)
    assert not re.search(r'(?:button|el)\("[^"]*[A-Z][a-z]+ ', js)  # no visible word outside T(...)

    rv = edit.open_review(sample_output(review_base), district(), options=OPTIONS)
    client = TestClient(app.create_app(app.ReviewServer(rv, by="x")))
    i18n.set_language("zh")
    page = client.get("/").text
    assert '<html lang="zh-CN">' in page and "<h1>审核与批准</h1>" in page and ">撤销</button>" in page
    assert "{{" not in page and "Review and approve" not in page
    assert "调整单元" in page  # the script's words, in the gridgeo-texts meta tag
    refused = client.post("/api/undo", json={})
    assert refused.status_code == 403 and refused.json()["reasons"] == ["会话密钥缺失或错误"]
    i18n.set_language("en")
    page = client.get("/").text
    assert '<html lang="en">' in page and "<h1>Review and approve</h1>" in page and "审核" not in page
