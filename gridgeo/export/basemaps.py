"""Online basemaps for the map page: named presets and custom tile URLs with their system.

A tile layer is only right when the overlays are drawn in the tiles' own coordinate system:
天地图 (Tianditu) serves CGCS2000, which Leaflet may treat as WGS 84 (they differ by < 1 m);
OpenStreetMap serves WGS 84; 高德 (AMap) and 腾讯 (Tencent) serve GCJ-02, some 460-500 m off in
Qingdao, so the grids must be shifted (:mod:`gridgeo.export.gcj02`) before they are drawn on
them. A custom URL therefore comes with its system (``"gcj02:https://..."``); a URL of a known
GCJ-02 host given without one is refused rather than drawn in the wrong place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

#: Coordinate systems a tile layer may be in.
SYSTEMS: tuple[str, ...] = ("wgs84", "cgcs2000", "gcj02")


@dataclass(frozen=True)
class Basemap:
    """A tile layer and the coordinate system its tiles are drawn in.

    Attributes
    ----------
    name : str
        The layer's name in the page's layer control.
    url : str
        Leaflet URL template (``{z}/{x}/{y}``, optionally ``{s}``).
    system : {"wgs84", "cgcs2000", "gcj02"}
        The tiles' coordinate system.
    attribution : str
        The credit the provider asks for.
    subdomains : str
        Letters or digits substituted for ``{s}``.
    """

    name: str
    url: str
    system: str
    attribution: str
    subdomains: str = "abc"

    @property
    def gcj02(self) -> bool:
        """Whether overlays must be shifted to GCJ-02 to sit on these tiles."""
        return self.system == "gcj02"


#: Named presets (``--basemap osm``, ``--basemap gaode``, ...). 天地图 needs a key (``tk``).
PRESETS: dict[str, Basemap] = {
    "osm": Basemap("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "wgs84",
                   "© OpenStreetMap contributors", ""),
    "openstreetmap": Basemap("OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                             "wgs84", "© OpenStreetMap contributors", ""),
    "gaode": Basemap("高德地图", "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1"
                     "&scale=1&style=8&x={x}&y={y}&z={z}", "gcj02", "© 高德地图 AutoNavi", "1234"),
    "gaode-satellite": Basemap("高德影像", "https://webst0{s}.is.autonavi.com/appmaptile?style=6"
                               "&x={x}&y={y}&z={z}", "gcj02", "© 高德地图 AutoNavi", "1234"),
    "tencent": Basemap("腾讯地图", "https://rt{s}.map.gtimg.com/realtimerender?z={z}&x={x}"
                       "&y={-y}&type=vector&style=0", "gcj02", "© 腾讯地图 Tencent", "0123"),
    "tianditu": Basemap("天地图", "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}"
                        "&l={z}&tk={tk}", "cgcs2000", "© 天地图 Tianditu", "01234567"),
}  # fmt: skip

#: Hosts known to serve GCJ-02 tiles: a raw URL of theirs needs its system said.
_GCJ02_HOSTS = re.compile(r"autonavi\.com|amap\.com|gtimg\.com|qq\.com|map\.baidu|bdimg\.com",
                          re.IGNORECASE)  # fmt: skip
_PREFIX = re.compile(r"^(wgs84|cgcs2000|gcj02):(.+)$", re.IGNORECASE)


def resolve_basemap(spec: str, *, tianditu_key: str | None = None) -> Basemap:
    """The basemap a ``--basemap`` value names.

    Parameters
    ----------
    spec : str
        A preset name (see :data:`PRESETS`), or ``SYSTEM:URL`` with SYSTEM one of
        ``wgs84``, ``cgcs2000``, ``gcj02`` (e.g. ``gcj02:https://webrd01.is.autonavi.com/...``),
        or a bare URL of a WGS 84 / CGCS2000 tile server.
    tianditu_key : str, optional
        The 天地图 key (``tk``) filled into the ``tianditu`` preset (default: the
        ``TIANDITU_KEY`` environment variable).

    Returns
    -------
    Basemap

    Raises
    ------
    InputError
        On an unknown preset, a URL without ``{z}``/``{x}``/``{y}``, or a URL of a GCJ-02 host
        (高德, 腾讯) given without its system.
    """
    text = str(spec).strip()
    tianditu_key = tianditu_key or os.environ.get("TIANDITU_KEY")
    preset = PRESETS.get(text.lower())
    if preset is not None:
        if "{tk}" in preset.url:
            if not tianditu_key:
                raise InputError([Problem("--basemap", None, _(
                    "the 天地图 basemap needs a key: set TIANDITU_KEY (apply at console.tianditu.gov.cn)"))])
            preset = Basemap(preset.name, preset.url.replace("{tk}", tianditu_key), preset.system,
                             preset.attribution, preset.subdomains)  # fmt: skip
        return preset
    match = _PREFIX.match(text)
    system, url = (match.group(1).lower(), match.group(2)) if match else (None, text)
    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise InputError([Problem("--basemap", None, _(
            "unknown basemap {spec!r}: use one of {presets}, or SYSTEM:URL with SYSTEM wgs84, "
            "cgcs2000 or gcj02").format(spec=text, presets=", ".join(PRESETS)))])
    if not all(part in url for part in ("{z}", "{x}")) or not re.search(r"\{-?y\}", url):
        raise InputError([Problem("--basemap", None, _(
            "the tile URL needs {{z}}, {{x}} and {{y}} placeholders: {url}").format(url=url))])
    if system is None and _GCJ02_HOSTS.search(url):
        raise InputError([Problem("--basemap", None, _(
            "these tiles (高德 / 腾讯 / 百度) are not in CGCS2000: the grids would be drawn about "
            "500 m off. Say the tiles' system, e.g. gcj02:{url}, or use --basemap gaode").format(url=url))])
    return Basemap(_("custom basemap"), url, system or "wgs84", _("custom basemap"), "abc")
