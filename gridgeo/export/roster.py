"""The grid workers' roster (网格员花名册): reading and checking it.

A roster lists the people a street can put on its grids, one row each:

=============  ==========================================================================
column         meaning
=============  ==========================================================================
worker_id      unique id (工号)
name           name as printed on the boards (姓名)
phone          phone number as printed (联系电话)
kind           ``full_time`` (专职网格员), ``part_time`` (兼职网格员) or ``cadre`` (街道/社区
               干部、社区民警 ...: may be grid instructor, 网格指导员)
lon, lat       optional home location, degrees (CGCS2000 / WGS 84)
area           optional 9-digit street or 12-digit community code the worker may serve in
photo          optional path of a photo (relative to the roster file)
duties         optional duties text for the board (default: the regulation's list)
qr_url         optional link printed as a QR code on the boards of the worker's grids
               (扫码进群: e.g. the grid's WeChat group); ``{grid_code}`` in it is replaced by
               each grid's code. A grid's board shows its leader's link, else that of its
               first full-time worker who has one (see :mod:`gridgeo.export._qr`)
=============  ==========================================================================

Chinese headers (工号, 姓名, 电话, 类型, 经度, 纬度, 片区, 照片, 职责, 二维码链接) and kind values
(专职, 兼职, 干部) are understood. Only these staff fields are ever exported.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

ROSTER_COLUMNS = (
    "worker_id", "name", "phone", "kind", "lon", "lat", "area", "photo", "duties", "qr_url",
)  # fmt: skip
REQUIRED = ("worker_id", "name", "phone", "kind")

_ALIASES = {
    "id": "worker_id", "工号": "worker_id", "编号": "worker_id",
    "姓名": "name", "电话": "phone", "联系电话": "phone", "手机": "phone",
    "type": "kind", "类型": "kind", "类别": "kind",
    "经度": "lon", "longitude": "lon", "纬度": "lat", "latitude": "lat",
    "片区": "area", "所属": "area", "照片": "photo", "职责": "duties",
    "二维码链接": "qr_url", "二维码": "qr_url", "进群链接": "qr_url", "群链接": "qr_url",
    "微信群链接": "qr_url", "qr": "qr_url", "qr_link": "qr_url",
}  # fmt: skip
_KINDS = {
    "full_time": "full_time", "full-time": "full_time", "fulltime": "full_time", "ft": "full_time",
    "专职": "full_time", "专职网格员": "full_time",
    "part_time": "part_time", "part-time": "part_time", "parttime": "part_time", "pt": "part_time",
    "兼职": "part_time", "兼职网格员": "part_time",
    "cadre": "cadre", "instructor": "cadre", "干部": "cadre", "指导员": "cadre", "网格指导员": "cadre",
}  # fmt: skip


def read_roster(path: str | os.PathLike) -> pd.DataFrame:
    """Read a roster CSV (UTF-8, or GBK as Chinese spreadsheets save it) and check it.

    Parameters
    ----------
    path : path-like
        The CSV file. Relative ``photo`` paths are resolved against its folder.

    Returns
    -------
    pandas.DataFrame
        The checked roster (see :func:`check_roster`).

    Raises
    ------
    InputError
        When the file cannot be read, or lists every problem of its rows.
    """
    path = Path(path)
    if not path.exists():
        raise InputError([Problem(str(path), None, _("roster file not found"))])
    frame = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
            raise InputError([Problem(str(path), None, _("cannot be read as CSV: {why}").format(why=exc))]) from None
    if frame is None:
        raise InputError([Problem(str(path), None, _("is neither UTF-8 nor GB18030 text"))])
    roster = check_roster(frame, source=str(path))
    if "photo" in roster:
        roster["photo"] = [
            str(path.parent / p) if p and not Path(p).is_absolute() else p for p in roster["photo"]
        ]
        check_photos(roster, source=str(path))
    return roster


#: The most pixels a photo may have (6000 x 4000): a board prints it 3 x 4 cm, and a larger
#: image costs memory only (a 20000 x 20000 PNG of 48 kB decodes to gigabytes).
MAX_PHOTO_PIXELS = 24_000_000
#: The formats a photo may be in.
PHOTO_FORMATS = ("PNG", "JPEG")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (they carry the size); C4, C8 and CC are other segments.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def photo_size(path: str | os.PathLike) -> tuple[str, int, int] | None:
    """Read a photo's format and size from its header, decoding no pixel.

    Parameters
    ----------
    path : path-like
        A PNG or JPEG file.

    Returns
    -------
    tuple of (str, int, int) or None
        ``(format, width, height)`` in pixels; None when the file is neither PNG nor JPEG or
        its header is broken.
    """
    with open(path, "rb") as fh:
        head = fh.read(32)
        if head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR":
            return "PNG", int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if not head.startswith(b"\xff\xd8"):
            return None
        fh.seek(2)
        return _jpeg_size(fh)


def _jpeg_size(fh) -> tuple[str, int, int] | None:
    for _segment in range(10_000):  # segments before the frame header: a few dozen in practice
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
            continue
        length = int.from_bytes(fh.read(2), "big")
        if length < 2:
            return None
        if kind in _SOF:
            seg = fh.read(5)
            if len(seg) < 5:
                return None
            return "JPEG", int.from_bytes(seg[3:5], "big"), int.from_bytes(seg[1:3], "big")
        fh.seek(length - 2, os.SEEK_CUR)
    return None


def photo_problem(path: str | os.PathLike, *, source: str = "roster", feature_id: str | None = None,
                  max_pixels: int = MAX_PHOTO_PIXELS) -> Problem | None:  # fmt: skip
    """What is wrong with a photo before it is decoded (format, pixel count), or None.

    Parameters
    ----------
    path : path-like
        The photo; a missing file is not a problem here (the board prints a placeholder).
    source, feature_id : str
        Where the photo is named (the roster file, the worker).
    max_pixels : int
        The most pixels allowed (width x height).

    Returns
    -------
    Problem or None
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        info = photo_size(path)
    except OSError as exc:
        return Problem(source, feature_id, _("photo {path} cannot be read: {why}").format(path=path, why=exc.strerror or exc))
    if info is None:
        return Problem(source, feature_id, _("photo {path} is not a {formats} image (or its header is damaged): "
                                             "save it as PNG or JPEG").format(path=path, formats=" or ".join(PHOTO_FORMATS)))  # fmt: skip
    fmt, width, height = info
    if width <= 0 or height <= 0 or width * height > max_pixels:
        return Problem(source, feature_id, _(
            "photo {path} is a {fmt} of {width} x {height} pixels ({mpx:.0f} Mpx), more than the {most:.0f} Mpx a "
            "board photo may have: refused before decoding; shrink it (e.g. to 600 x 800)").format(
            path=path, fmt=fmt, width=width, height=height, mpx=width * height / 1e6, most=max_pixels / 1e6))  # fmt: skip
    return None


def check_photos(table: pd.DataFrame, *, source: str = "staff") -> None:
    """Check every photo a roster or staff table names (see :func:`photo_problem`).

    Raises
    ------
    InputError
        Listing every photo that is not PNG/JPEG or has too many pixels.
    """
    if "photo" not in table.columns:
        return
    key = next((c for c in ("worker_id", "name") if c in table.columns), None)
    ids = table[key].astype(str) if key else [_("row {n}").format(n=i + 2) for i in range(len(table))]
    problems = []
    for fid, photo in zip(ids, table["photo"], strict=True):
        if isinstance(photo, str) and photo:
            problem = photo_problem(photo, source=source, feature_id=fid)
            if problem is not None:
                problems.append(problem)
    if problems:
        raise InputError(problems)


def check_roster(roster: pd.DataFrame, *, source: str = "roster") -> pd.DataFrame:  # noqa: C901 - one check per roster column, collected before raising
    """Return a checked copy of a roster with canonical columns and kinds.

    Parameters
    ----------
    roster : pandas.DataFrame
        The roster as read; headers and kinds may be in Chinese (see the module docs).
    source : str
        The file named in messages.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ROSTER_COLUMNS`; ``lon``/``lat`` float (NaN when unknown), the others str.

    Raises
    ------
    InputError
        Listing every problem: missing columns, empty or duplicate ids, empty names or phones,
        unknown kinds, coordinates that are not numbers or lie outside China's span.
    """
    df = roster.rename(
        columns=lambda c: _ALIASES.get(str(c).strip().lower(), str(c).strip().lower())
    )
    problems = [
        Problem(source, None, _("missing column {column!r}").format(column=c)) for c in REQUIRED if c not in df.columns
    ]
    if problems:
        raise InputError(problems)
    out = pd.DataFrame(index=range(len(df)))
    for col in ROSTER_COLUMNS:
        if col in ("lon", "lat"):
            continue
        values = df[col] if col in df.columns else pd.Series([""] * len(df))
        out[col] = (
            values.astype(object).where(values.notna(), "").astype(str).str.strip().to_numpy()
        )
    for col in ("lon", "lat"):
        raw = df[col] if col in df.columns else pd.Series([""] * len(df))
        raw = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
        num = pd.to_numeric(raw.where(raw != "", None), errors="coerce")
        for i in np.flatnonzero(num.isna().to_numpy() & (raw != "").to_numpy()):
            problems.append(
                Problem(
                    source,
                    out.at[i, "worker_id"] or _("row {n}").format(n=i + 2),
                    _("{column} {value!r} is not a number").format(column=col, value=raw.iloc[i]),
                )
            )
        out[col] = num.astype(float).to_numpy()
    for i, row in out.iterrows():
        fid = row["worker_id"] or _("row {n}").format(n=i + 2)
        if not row["worker_id"]:
            problems.append(Problem(source, fid, _("empty worker_id")))
        if not row["name"]:
            problems.append(Problem(source, fid, _("empty name")))
        if not row["phone"]:
            problems.append(Problem(source, fid, _("empty phone: the board must print a number")))
        kind = _KINDS.get(row["kind"].lower())
        if kind is None:
            problems.append(
                Problem(
                    source,
                    fid,
                    _("unknown kind {kind!r}; use full_time, part_time or cadre (专职/兼职/干部)").format(kind=row["kind"]),
                )
            )
        else:
            out.at[i, "kind"] = kind
        lon, lat = row["lon"], row["lat"]
        if np.isnan(lon) != np.isnan(lat):
            problems.append(Problem(source, fid, _("give both lon and lat, or neither")))
        elif not np.isnan(lon) and not (73 <= lon <= 136 and 3 <= lat <= 54):
            problems.append(
                Problem(
                    source, fid, _("home ({lon}, {lat}) is outside China's span; lon first, degrees").format(lon=lon, lat=lat)
                )
            )
        if row["area"] and (not row["area"].isdigit() or len(row["area"]) not in (6, 9, 12)):
            problems.append(
                Problem(
                    source, fid, _("area {area!r} is not a 6-, 9- or 12-digit division code").format(area=row["area"])
                )
            )
    problems += _qr_problems(out, source)
    dup = out["worker_id"][out["worker_id"].duplicated() & (out["worker_id"] != "")]
    for wid in sorted(set(dup)):
        problems.append(Problem(source, wid, _("worker_id appears more than once")))
    if problems:
        raise InputError(problems)
    return out


def _qr_problems(out: pd.DataFrame, source: str) -> list[Problem]:
    """The roster's QR links that are not links or are too long (see :func:`_qr.qr_problem`)."""
    from gridgeo.export._qr import qr_problem

    found = []
    for i, (wid, url) in enumerate(zip(out["worker_id"], out["qr_url"], strict=True)):
        if url:
            problem = qr_problem(url, source=source, feature_id=wid or f"row {i + 2}")
            if problem is not None:
                found.append(problem)
    return found


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志海燕玲晨阳宇欣怡浩然子涵雪梅"
)


def sample_roster(
    grids,
    *,
    seed: int = 0,
    full_time: int | None = None,
    part_time: int | None = None,
    cadres: int | None = None,
    located: float = 0.8,
) -> pd.DataFrame:
    """A generated roster for demonstrations and tests: fake names, phones 138-0000-xxxx.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        The grids to staff (any CRS); homes are drawn near them.
    seed : int
        Seed of the generator.
    full_time, part_time, cadres : int, optional
        Head counts; default 85 % of the grid count full-time (some then serve two grids),
        half as many part-time, one cadre per community.
    located : float
        Share of workers whose home location is given.

    Returns
    -------
    pandas.DataFrame
        A roster in the canonical columns (see :func:`check_roster`). Every person is fictitious.
    """
    rng = np.random.default_rng(seed)
    n = len(grids)
    communities = (
        sorted(grids["community_code"].astype(str).unique()) if "community_code" in grids else [""]
    )
    full_time = max(1, int(round(0.85 * n))) if full_time is None else full_time
    part_time = n // 2 if part_time is None else part_time
    cadres = len(communities) if cadres is None else cadres
    pts = grids.geometry.to_crs(4326).representative_point()
    kinds = ["full_time"] * full_time + ["part_time"] * part_time + ["cadre"] * cadres
    rows = []
    used: set[str] = set()
    for k, kind in enumerate(kinds):
        while True:
            name = rng.choice(list(_SURNAMES)) + "".join(
                rng.choice(list(_GIVEN), size=int(rng.integers(1, 3)))
            )
            if name not in used:
                used.add(name)
                break
        lon = lat = np.nan
        if rng.random() < located:
            at = pts.iloc[int(rng.integers(n))]
            lon = round(at.x + rng.normal(0, 0.004), 6)
            lat = round(at.y + rng.normal(0, 0.003), 6)
        area = communities[k % len(communities)] if kind == "cadre" else ""
        rows.append({"worker_id": f"W{k + 1:04d}", "name": name, "phone": f"138-0000-{k + 1:04d}",
                     "kind": kind, "lon": lon, "lat": lat, "area": area, "photo": "", "duties": ""})  # fmt: skip
    return check_roster(pd.DataFrame(rows), source="sample roster")
