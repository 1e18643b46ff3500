"""The review page's ASGI app: one HTML page, its local assets, and a JSON API over :mod:`gridgeo.edit`.

Every asset is served from the package (the vendored Leaflet of :mod:`gridgeo.export`), so the
page works offline. Every API call must carry the session key the page was given
(``X-Gridgeo-Key``): another site the planner's browser visits cannot post edits to the local
server, since it cannot read the page. Edits are serialised: one at a time per session.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gridgeo.edit import Outcome, Review
from gridgeo.errors import GridgeoError
from gridgeo.i18n import N_, _, current_language

STATIC = Path(str(files("gridgeo.review") / "static"))
LEAFLET = Path(str(files("gridgeo.export") / "assets"))
#: Header every API request carries.
KEY_HEADER = "X-Gridgeo-Key"
#: Lon/lat decimals sent to the page (1e-6 degree is about 0.1 m).
PRECISION = 6
#: The words of index.html (each ``{{t:TEXT}}`` there), translated when the page is served.
PAGE_TEXTS: tuple[str, ...] = (
    N_("gridgeo review"), N_("Review and approve"), N_("Undo"), N_("Redo"), N_("Approve"), N_("Unit"),
    N_("in grid"), N_("households:"), N_("units in its block:"), N_("Communities"), N_("Grids"),
    N_("all communities"), N_("Grid"), N_("Code"), N_("Class"), N_("Households"), N_("Residents"), N_("Flag"),
    N_("Findings"),
)  # fmt: skip
#: The words review.js writes (each ``T("TEXT")`` there, and the values it passes to ``T``: the
#: edit names, severities and band measures), sent to the page in its ``gridgeo-texts`` meta tag.
SCRIPT_TEXTS: tuple[str, ...] = (
    N_("{op}: done"), N_("{op}: refused"), N_("of {community}"), N_("Unlock"), N_("Lock"), N_("Split"),
    N_("band {lower}–{upper} {measure}"), N_("Rebalance unlocked grids"), N_("none"), N_("no adjacent grid"),
    N_("Move unit"), N_("Move block"), N_("Merge grids"), N_("{n} change(s) to approve, as {by}"), N_("{n} hh"),
    N_(" (locked)"), N_("move"), N_("lock"), N_("unlock"), N_("rebalance"), N_("merge"), N_("split"), N_("undo"),
    N_("redo"), N_("approve"), N_("blocking"), N_("warning"), N_("households"), N_("residents"),
)  # fmt: skip
_MARK = re.compile(r"\{\{t:([^}]*)\}\}")


def render_page(template: str, key: str) -> str:
    """The review page in the language in use: its words translated, the session key and texts filled in.

    Parameters
    ----------
    template : str
        index.html, with ``{{t:TEXT}}`` for each word, ``{{KEY}}``, ``{{TEXTS}}`` and ``{{LANG}}``.
    key : str
        The session key.

    Returns
    -------
    str
    """
    texts = json.dumps({t: _(t) for t in SCRIPT_TEXTS}, ensure_ascii=False, sort_keys=True)
    body = _MARK.sub(lambda m: html.escape(_(m.group(1)), quote=True), template)
    lang = "zh-CN" if current_language() == "zh" else "en"
    return (body.replace("{{KEY}}", html.escape(key, quote=True)).replace("{{TEXTS}}", html.escape(texts, quote=True))
            .replace("{{LANG}}", lang))  # fmt: skip


def _geojson(gdf: gpd.GeoDataFrame, columns: list[str]) -> dict:
    """A layer as GeoJSON in lon/lat, with only the named properties."""
    frame = gdf[[c for c in columns if c in gdf.columns] + ["geometry"]]
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if frame.crs is not None:
        frame = frame.to_crs(4326)
    # Coordinates rounded one by one (not set_precision, which drops a sliver unit a planner
    # still has to see and be able to move).
    rounded = shapely.transform(frame.geometry.values, lambda xy: np.round(xy, PRECISION))
    frame = frame.set_geometry(gpd.GeoSeries(rounded, index=frame.index, crs=frame.crs))
    return json.loads(frame.to_json(drop_id=True, na="null"))


class ReviewServer:
    """The state behind the app: a :class:`~gridgeo.edit.Review`, who approves, the session key.

    Parameters
    ----------
    review : Review
        The editable session.
    by : str
        Who approves (recorded with every approved change).
    token : str, optional
        The session key; a random one when None (local use). Given when the server listens on
        another address than 127.0.0.1: the page is then served only to ``/?token=TOKEN``.
    """

    def __init__(self, review: Review, *, by: str, token: str | None = None) -> None:
        self.review = review
        self.by = by
        self.require_token = token is not None
        self.key = token if token is not None else secrets.token_urlsafe(24)
        self.lock = threading.Lock()
        self._static_layers: dict | None = None

    def static_layers(self) -> dict:
        """Streets, buildings, community outlines and units: what no edit changes."""
        if self._static_layers is None:
            d = self.review.district
            crs = d.crs

            def back(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
                return g.to_crs(crs) if crs is not None and g.crs is not None else g

            units = self.review.units_frame()
            self._static_layers = {
                "communities": _geojson(back(d.communities), ["community_code", "community_name"]),
                "roads": _geojson(back(d.roads), []),
                "buildings": _geojson(back(d.buildings), ["building_id", "households"]),
                "units": _geojson(units, ["unit_id", "community_code", "kind", "households", "residents"]),
            }
        return self._static_layers

    def state(self) -> dict:
        """The grids as they are now, the unit -> grid plan, locks, findings, undo/redo."""
        rv = self.review
        table = rv.table()
        grids = rv.grids().merge(table[["grid_id", "locked", "changed", "in_band", "connected", "reasons"]],
                                 on="grid_id")  # fmt: skip
        cols = ["grid_id", "grid_code", "community_code", "community_name", "grid_class", "households",
                "residents", "flag", "locked", "changed", "in_band", "connected", "reasons"]  # fmt: skip
        rows = json.loads(table.to_json(orient="records", force_ascii=False)) if len(table) else []
        return {
            "grids": _geojson(grids, cols),
            "table": rows,
            "plan": dict(rv.units_frame()[["unit_id", "grid_id"]].itertuples(index=False, name=None)),
            "findings": self.findings(),
            "can_undo": rv.can_undo,
            "can_redo": rv.can_redo,
            "pending": len(rv.changes),
            "band": {"lower": rv.band.lower, "upper": rv.band.upper, "measure": rv.band.measure},
            "by": self.by,
        }

    def findings(self) -> list[dict]:
        """The findings of the folder's last proof and of the inputs' validation."""
        rows = []
        gpkg = self.review.out / "grids.gpkg"
        names = [n for n, _ in pyogrio.list_layers(gpkg)] if gpkg.exists() else []
        # One layer per geometry kind (findings_points, findings_polygons) or one "findings".
        for name in (n for n in names if n == "findings" or n.startswith("findings_")):
            f = pyogrio.read_dataframe(gpkg, layer=name, read_geometry=False)
            for r in f.to_dict("records"):
                rows.append({k: _text(r.get(k)) for k in ("rule", "severity", "grid_id", "message")})
        vf = self.review.district.findings
        if vf is not None and len(vf):
            for r in vf.to_dict("records"):
                rows.append({"rule": _text(r.get("rule")), "severity": _text(r.get("severity")),
                             "grid_id": _text(r.get("feature_id")), "message": _text(r.get("message"))})  # fmt: skip
        return rows


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _guarded(server: ReviewServer, handler: Callable[[dict], dict]):
    """An API endpoint: checks the session key, reads the JSON body, runs one edit at a time."""

    async def endpoint(request: Request) -> Response:
        if not secrets.compare_digest(request.headers.get(KEY_HEADER, ""), server.key):
            return JSONResponse({"ok": False, "reasons": [_("missing or wrong session key")]}, status_code=403)
        try:
            body = await request.json() if request.method == "POST" else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"ok": False, "reasons": [_("the body must be a JSON object")]}, status_code=400)
        try:
            with server.lock:
                result = handler(body)
        except GridgeoError as exc:
            return JSONResponse({"ok": False, "reasons": [str(exc)]}, status_code=400)
        except (KeyError, TypeError) as exc:
            return JSONResponse({"ok": False, "reasons": [_("bad request: {why}").format(why=exc)]}, status_code=400)
        return JSONResponse(result)

    return endpoint


def _api(server: ReviewServer) -> dict[str, Callable[[dict], dict]]:
    """API name -> handler of the JSON body; each calls :mod:`gridgeo.edit`."""
    rv = server.review

    def op(outcome: Outcome) -> dict:
        return outcome.to_dict()

    def approve(_body: dict) -> dict:
        res = rv.approve(by=server.by)
        return {"op": "approve", "ok": res.ok, "reasons": list(res.reasons), "approval": res.approval,
                "changes": len(res.changes), "written": [p.name for p in res.written],
                "coverage": "PROVED" if res.coverage.ok else "REFUTED"}  # fmt: skip

    def unit(body: dict) -> dict:
        uid = str(body["unit_id"])
        return {"unit_id": uid, "grid_id": rv.grid_of(uid), "targets": rv.unit_targets(uid),
                "block": rv.block(uid), "neighbours": rv.neighbours(rv.grid_of(uid))}  # fmt: skip

    def move(body: dict) -> dict:
        kind = "block" if body.get("block") else "building_id" if body.get("building_id") else "unit_ids"
        value = body[kind] if kind != "unit_ids" else [str(u) for u in body["unit_ids"]]
        return op(rv.move(to_grid=str(body["to_grid"]), **{kind: value}))

    return {
        "layers": lambda _b: server.static_layers(),
        "state": lambda _b: server.state(),
        "unit": unit,
        "move": move,
        "lock": lambda b: op(rv.lock(str(b["grid_id"]))),
        "unlock": lambda b: op(rv.unlock(str(b["grid_id"]))),
        "rebalance": lambda b: op(rv.rebalance(str(b["community_code"]))),
        "merge": lambda b: op(rv.merge(str(b["a"]), str(b["b"]))),
        "split": lambda b: op(rv.split(str(b["grid_id"]))),
        "undo": lambda _b: op(rv.undo()),
        "redo": lambda _b: op(rv.redo()),
        "approve": approve,
    }


def create_app(server: ReviewServer) -> Starlette:
    """The Starlette app of a review session.

    Parameters
    ----------
    server : ReviewServer

    Returns
    -------
    starlette.applications.Starlette
        ``/`` the page, ``/api/NAME`` the JSON API (``layers`` and ``state`` by GET, the edits by
        POST), ``/static`` and ``/leaflet`` the assets.
    """
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        if server.require_token and not secrets.compare_digest(request.query_params.get("token", ""), server.key):
            return Response(_("give the token: /?token=TOKEN"), status_code=403, media_type="text/plain")
        body = render_page(page, server.key)
        return HTMLResponse(body, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                           "Content-Security-Policy": _CSP})  # fmt: skip

    async def favicon(_request: Request) -> Response:
        return Response(status_code=204)

    routes = [Route("/", index), Route("/favicon.ico", favicon)]
    for name, handler in _api(server).items():
        methods = ["GET"] if name in ("layers", "state") else ["POST"]
        routes.append(Route(f"/api/{name}", _guarded(server, handler), methods=methods))
    routes += [Mount("/static", StaticFiles(directory=STATIC)), Mount("/leaflet", StaticFiles(directory=LEAFLET))]
    return Starlette(routes=routes)


#: Only the page's own scripts, styles and images; no inline script, no other origin.
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"
