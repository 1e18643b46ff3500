"""Make a folium page self-contained and deterministic.

folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs and names every element
with a random ``uuid4``. A map posted to a planner's laptop must open with no network, and the
same grids must give the same bytes, so this module

* strips every external ``<script src>``/``<link href>`` that folium's elements would add,
* inlines the vendored Leaflet 1.9.3 (``assets/``; its images as ``data:`` URIs), and
* renames the random element ids to a counter in order of first appearance.

gridgeo's map uses only Leaflet itself (polygons, tooltips, div icons, the layer control), so
jQuery, Bootstrap and Font Awesome are not needed.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib.resources import files

import branca.element
import folium

ASSETS = files("gridgeo.export") / "assets"

_CSS_SLOT = "<!-- gridgeo: leaflet.css -->"
_JS_SLOT = "<!-- gridgeo: leaflet.js -->"
_UUID = re.compile(r"[0-9a-f]{32}")
_EXTERNAL = re.compile(
    r"""<(?:script[^>]*\ssrc|link[^>]*\shref)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE
)


@cache
def leaflet_js() -> str:
    """The vendored ``leaflet.js`` without its source-map comment."""
    text = (ASSETS / "leaflet.js").read_text(encoding="utf-8")
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)


@cache
def leaflet_css() -> str:
    """The vendored ``leaflet.css`` with its images inlined as ``data:`` URIs."""
    css = (ASSETS / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        name = match.group(1)
        data = (ASSETS / "images" / name).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)


def _walk(element: branca.element.Element):
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def render_offline(fmap: folium.Map) -> str:
    """Render ``fmap`` to one HTML page that needs no network and is byte-stable.

    Parameters
    ----------
    fmap : folium.Map
        The map; it must have no tile layer that points at a server unless the caller
        accepts a page that needs the network for its basemap.

    Returns
    -------
    str
        The HTML page.
    """
    for element in _walk(fmap):
        if isinstance(element, folium.elements.JSCSSMixin):
            # Instance attributes: folium's class-level lists stay untouched for other maps.
            element.default_js = []
            element.default_css = []
    root = fmap.get_root()
    # Placeholders first, assets after the id renaming: the renaming must never touch them.
    root.header.add_child(branca.element.Element(_CSS_SLOT), name="gridgeo_leaflet_css", index=0)
    root.header.add_child(branca.element.Element(_JS_SLOT), name="gridgeo_leaflet_js", index=1)
    html = stable_ids(root.render())
    html = html.replace(_CSS_SLOT, f"<style>\n{leaflet_css()}\n</style>", 1)
    return html.replace(_JS_SLOT, f"<script>\n{leaflet_js()}\n</script>", 1)


def stable_ids(html: str) -> str:
    """Replace folium's random 32-hex element ids by a counter in order of appearance."""
    seen: dict[str, str] = {}

    def rename(match: re.Match) -> str:
        key = match.group(0)
        if key not in seen:
            seen[key] = f"{len(seen):032x}"
        return seen[key]

    return _UUID.sub(rename, html)


def external_references(html: str) -> list[str]:
    """The ``<script src>``/``<link href>`` tags of ``html`` that point at a server."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]
