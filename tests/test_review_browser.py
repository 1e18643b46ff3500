"""The review page in a real headless Chromium: load, move a unit, lock, rebalance, approve.

Also the server's guards without a browser: the session key, the token beyond 127.0.0.1, and
that data reaches the page only as text.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pyogrio
import pytest
from _review_sample import OPTIONS, district, sample_output

from gridgeo import edit
from gridgeo.coding.changelog import read_changes
from gridgeo.errors import InputError
from gridgeo.review import ReviewServer, create_app
from gridgeo.review._cli import check_address

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("review-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Served:
    """A uvicorn server in a thread, stopped on exit."""

    def __init__(self, server: ReviewServer) -> None:
        import uvicorn

        self.port = _free_port()
        config = uvicorn.Config(create_app(server), host="127.0.0.1", port=self.port, log_level="warning")
        self.uvicorn = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the review server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(10)


def _scout_move(out: Path):
    """An inhabited unit and a grid a move of it would be accepted into, found on a scratch session."""
    scratch = edit.open_review(out, district(), options=OPTIONS)
    table = scratch.table()
    # In a community whose grids are in band, so that a rebalance has something to do after it.
    com = table[table["grid_class"] == "community"]
    ok_coms = {c for c, g in com.groupby("community_code") if g["in_band"].all() and len(g) >= 3}
    for gid in table.query("grid_class == 'community'")["grid_id"]:
        for u in scratch.members(gid):
            if scratch._counts["households"][u] == 0 or scratch._community[u] not in ok_coms:
                continue
            for t in scratch.unit_targets(u):
                if scratch.move(unit_ids=[u], to_grid=t).ok:
                    third = next(g for g in com[com["community_code"] == scratch._community[u]]["grid_id"]
                                 if g not in (gid, t))  # fmt: skip
                    return u, t, gid, scratch._counts["households"][u], third
    raise AssertionError("no legal move in the sample")


@pytest.fixture
def driver():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no chromium/chromedriver here (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,950", "--lang=zh-CN"):  # fmt: skip
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_script_timeout(30)
    try:
        yield d
    finally:
        d.quit()


def _wait(d, script: str, *args, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = d.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _settle(d) -> None:
    """Wait until the page finished its last call and redrew."""
    _wait(d, "return !document.body.dataset.busy && document.body.dataset.ready")


def _cell(d, grid_id: str, cls: str) -> str:
    return d.execute_script(
        "for (const tr of document.querySelectorAll('#grids-table tbody tr'))"
        "  if (tr.dataset.gridId === arguments[0]) return tr.querySelector('td.' + arguments[1]).textContent;"
        "return null;", grid_id, cls)  # fmt: skip


def _click(d, css: str, **data) -> None:
    from selenium.webdriver.common.by import By

    for el in d.find_elements(By.CSS_SELECTOR, css):
        if all(el.get_attribute(f"data-{k}") == v for k, v in data.items()):
            d.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
            el.click()
            return
    raise AssertionError(f"no {css} with {data}")


def test_a_planner_takes_the_sample_from_proposal_to_approved_grids(base, driver):
    out = sample_output(base)
    unit, target, source, hh, keep = _scout_move(out)
    review = edit.open_review(out, district(), options=OPTIONS)
    server = ReviewServer(review, by="browser-test")
    with _Served(server) as url:
        d = driver
        d.get(url + "/")
        _wait(d, "return document.body.dataset.ready")
        assert d.execute_script("return document.querySelectorAll('path.unit-path').length") == len(review.units.units)
        before_src, before_tgt = int(_cell(d, source, "households")), int(_cell(d, target, "households"))
        # Click the unit on the map, then the move button of the target grid.
        el = _wait(d, "return [...document.querySelectorAll('path.unit-path')]"
                      ".find((p) => p.getAttribute('data-unit-id') === arguments[0]);", unit)
        d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));", el)
        _wait(d, "return !document.getElementById('selection').hidden")
        assert d.find_element("id", "sel-unit").text == unit
        _click(d, "button.move-unit", target=target)
        _wait(d, "return document.getElementById('message').textContent.startsWith('move: done')")
        _settle(d)
        assert int(_cell(d, source, "households")) == before_src - hh
        assert int(_cell(d, target, "households")) == before_tgt + hh
        # Lock a third grid, rebalance the community: the locked grid keeps its units.
        held, held_hh = review.members(keep), int(_cell(d, keep, "households"))
        _click(d, "button.lock", grid=keep)
        _wait(d, "return document.getElementById('message').textContent.startsWith('lock: done')")
        _settle(d)
        assert keep in review.locked
        community = review._community[unit]
        _click(d, "button.rebalance", community=community)
        _wait(d, "return document.getElementById('message').textContent.startsWith('rebalance:')")
        _settle(d)
        assert review.members(keep) == held
        assert "refused" not in d.find_element("id", "message").text
        # Approve: the layer and its history are on disk.
        _click(d, "#approve")
        _wait(d, "return document.getElementById('message').textContent.startsWith('approve:')")
        _settle(d)
        assert d.find_element("id", "message").text.startswith("approve: done"), d.find_element("id", "message").text
    grids = pyogrio.read_dataframe(out / "grids.gpkg", layer="grids").set_index("grid_id")
    shown = review.table().set_index("grid_id")
    assert grids["households"].to_dict() == shown["households"].to_dict()
    assert grids.loc[keep, "households"] == held_hh  # locked through the rebalance
    assert grids["grid_code"].notna().all() and grids["grid_code"].is_unique
    changes = read_changes(out / "registry.sqlite")
    assert len(changes) and set(changes["by"]) == {"browser-test"}
    assert unit in " ".join(changes.loc[changes["op"] == "move", "units"])
    assert not [m for m in d.get_log("browser") if m["level"] == "SEVERE"]


def test_the_api_needs_the_session_key_and_escapes_nothing_into_html(base):
    from starlette.testclient import TestClient

    review = edit.open_review(sample_output(base), district(), options=OPTIONS)
    server = ReviewServer(review, by="<script>alert(1)</script>")
    client = TestClient(create_app(server))
    page = client.get("/")
    assert page.status_code == 200 and server.key in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/api/state").status_code == 403
    assert client.post("/api/undo", json={}).status_code == 403
    state = client.get("/api/state", headers={"X-Gridgeo-Key": server.key}).json()
    assert state["by"] == "<script>alert(1)</script>" and state["table"]
    bad = client.post("/api/lock", json={"grid_id": "nope"}, headers={"X-Gridgeo-Key": server.key})
    assert bad.status_code == 400 and not bad.json()["ok"]
    for name in ("leaflet.js", "leaflet.css"):
        assert client.get(f"/leaflet/{name}").status_code == 200
    assert client.get("/static/review.js").status_code == 200
    js = client.get("/static/review.js").text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js


def test_a_token_is_needed_beyond_this_machine(base):
    from starlette.testclient import TestClient

    with pytest.raises(InputError, match="--token"):
        check_address("0.0.0.0", None)
    check_address("127.0.0.1", None)
    check_address("0.0.0.0", "a-long-enough-secret")
    review = edit.open_review(sample_output(base), district(), options=OPTIONS)
    client = TestClient(create_app(ReviewServer(review, by="x", token="a-long-enough-secret")))
    assert client.get("/").status_code == 403
    assert client.get("/?token=a-long-enough-secret").status_code == 200
    assert client.get("/api/state", headers={"X-Gridgeo-Key": "a-long-enough-secret"}).status_code == 200


def test_the_review_command_refuses_an_open_address_without_a_token(tmp_path):
    from gridgeo.cli import build_parser
    from gridgeo.review._cli import cmd_review, register

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    if "review" not in sub.choices:
        register(sub)
    args = parser.parse_args(["review", str(tmp_path), "--inputs", "x.toml", "--host", "0.0.0.0"])
    with pytest.raises(InputError, match="--token"):
        cmd_review(args)
