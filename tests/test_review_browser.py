"""The review page in a real headless Chromium: load, move a unit, lock, rebalance, approve.

Also the server's guards without a browser: the session key, the token beyond 127.0.0.1, and
that data reaches the page only as text.
"""

from __future__ import annotations

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
def page(chromium_browser):
    # The page forbids eval (CSP); Playwright's waits evaluate their predicates, so the test lifts it.
    pg = chromium_browser.new_page(viewport={"width": 1500, "height": 950}, locale="zh-CN", bypass_csp=True)
    try:
        pg.set_default_timeout(20_000)
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.errors = errors
        yield pg
    finally:
        pg.close()


def _settle(pg) -> None:
    """Wait until the page finished its last call and redrew."""
    pg.wait_for_function("!document.body.dataset.busy && document.body.dataset.ready")


def _message(pg, starts: str) -> str:
    pg.wait_for_function("(s) => document.getElementById('message').textContent.startsWith(s)", arg=starts)
    _settle(pg)
    return pg.text_content("#message")


def _cell(pg, grid_id: str, cls: str) -> int:
    return int(pg.locator(f"#grids-table tbody tr[data-grid-id='{grid_id}'] td.{cls}").text_content())


def test_a_planner_takes_the_sample_from_proposal_to_approved_grids(base, page):
    out = sample_output(base)
    unit, target, source, hh, keep = _scout_move(out)
    review = edit.open_review(out, district(), options=OPTIONS)
    server = ReviewServer(review, by="browser-test")
    with _Served(server) as url:
        page.goto(url + "/")
        _settle(page)
        assert page.locator("path.unit-path").count() == len(review.units.units)
        before_src, before_tgt = _cell(page, source, "households"), _cell(page, target, "households")
        # Click the unit on the map, then the move button of the target grid.
        page.locator(f"path.unit-path[data-unit-id='{unit}']").dispatch_event("click")
        page.wait_for_function("!document.getElementById('selection').hidden")
        assert page.text_content("#sel-unit") == unit
        page.click(f"button.move-unit[data-target='{target}']")
        assert _message(page, "move:").startswith("move: done")
        assert _cell(page, source, "households") == before_src - hh
        assert _cell(page, target, "households") == before_tgt + hh
        # Lock a third grid, rebalance the community: the locked grid keeps its units.
        held, held_hh = review.members(keep), _cell(page, keep, "households")
        page.click(f"button.lock[data-grid='{keep}']")
        assert _message(page, "lock:").startswith("lock: done")
        assert page.locator(f"#grids-table tbody tr[data-grid-id='{keep}']").get_attribute("class") == "locked"
        page.click(f"button.rebalance[data-community='{review._community[unit]}']")
        assert _message(page, "rebalance:").startswith("rebalance: done")
        assert review.members(keep) == held
        # Approve: the layer and its history are on disk.
        page.click("#approve")
        assert _message(page, "approve:").startswith("approve: done")
        assert not page.errors
    grids = pyogrio.read_dataframe(out / "grids.gpkg", layer="grids").set_index("grid_id")
    shown = review.table().set_index("grid_id")
    assert grids["households"].to_dict() == shown["households"].to_dict()
    assert grids.loc[keep, "households"] == held_hh  # locked through the rebalance
    assert grids["grid_code"].notna().all() and grids["grid_code"].is_unique
    changes = read_changes(out / "registry.sqlite")
    assert len(changes) and set(changes["by"]) == {"browser-test"}
    assert unit in " ".join(changes.loc[changes["op"] == "move", "units"])


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


def test_a_body_that_is_not_a_json_object_is_refused(base):
    from starlette.testclient import TestClient

    review = edit.open_review(sample_output(base), district(), options=OPTIONS)
    server = ReviewServer(review, by="x")
    client = TestClient(create_app(server))
    head = {"X-Gridgeo-Key": server.key, "Content-Type": "application/json"}
    for body in ("not json", "[1, 2]"):
        r = client.post("/api/move", content=body, headers=head)
        assert r.status_code == 400 and not r.json()["ok"]
    r = client.post("/api/move", json={"to_grid": "x"}, headers=head)
    assert r.status_code == 400 and not r.json()["ok"]
    assert not review.changes
