"""Validation: each defect class of issue 2 in a real malformed file, located in the message.

Every case builds a small valid district (three communities of 阜新路街道, 市北区, with their
real 12-digit codes, and buildings inside them), writes it to real files, damages one thing
and checks what a planner relies on: an error names the file, the feature id and the
problem (and the command exits 2 with one line per problem and no traceback); a repaired
defect becomes a located finding (and the command exits 0 and prints it).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LineString, Point, Polygon, box

from gridgeo.cli import main
from gridgeo.divisions import division_code_problems as code_problems
from gridgeo.divisions import load_divisions
from gridgeo.errors import InputError
from gridgeo.io import LayerSource
from gridgeo.validate import load_district, validate_layers

#: CGCS2000 / 3-degree Gauss–Krüger CM 120°E, the metric CRS of Qingdao data.
GK = "EPSG:4549"
#: South-west corner of the test district, near 阜新路街道 (120.36°E, 36.10°N), in GK metres.
X0, Y0 = 532_400.0, 3_996_700.0
SIDE = 400.0
CODES = ("370203026002", "370203026004", "370203026015")
#: Short names a shapefile can hold (10 bytes): the aliases gridgeo knows without a mapping.
SHP_NAMES = {
    "community_code": "code",
    "name": "名称",
    "building_id": "id",
    "households": "户数",
    "residents": "人口",
}


def communities() -> gpd.GeoDataFrame:
    """Three 400 m square communities side by side, with their real codes and names."""
    table = load_divisions()
    return gpd.GeoDataFrame(
        {"community_code": list(CODES), "name": [table.at[c, "name"] for c in CODES]},
        geometry=[box(X0 + i * SIDE, Y0, X0 + (i + 1) * SIDE, Y0 + SIDE) for i in range(3)],
        crs=GK,
    )


def buildings() -> gpd.GeoDataFrame:
    """Four 40 m footprints well inside each community (ids B00..B23)."""
    rows = []
    for i in range(3):
        for j in range(4):
            x, y = X0 + i * SIDE + 40 + j * 90, Y0 + 100
            rows.append(
                {"building_id": f"B{i}{j}", "households": 40 + j, "residents": 100 + j,
                 "geometry": box(x, y, x + 40, y + 40)}
            )  # fmt: skip
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=GK)


def write(gdf: gpd.GeoDataFrame, path: Path, *, layer: str | None = None) -> LayerSource:
    """Write ``gdf`` to a real file (driver from the suffix) and return its source."""
    if path.suffix == ".shp":
        gdf = gdf.rename(columns=SHP_NAMES)
        gdf.to_file(path, encoding="UTF-8")
    else:
        gdf.to_file(path, layer=layer)
    return LayerSource(path, layer)


def district_files(
    tmp: Path,
    com: gpd.GeoDataFrame | None = None,
    bld: gpd.GeoDataFrame | None = None,
    fmt: str = "gpkg",
) -> dict[str, LayerSource]:
    """Write communities and buildings as ``fmt`` files in ``tmp``."""
    com = communities() if com is None else com
    bld = buildings() if bld is None else bld
    return {
        "communities": write(com, tmp / f"communities.{fmt}"),
        "buildings": write(bld, tmp / f"buildings.{fmt}"),
    }


def write_config(sources: dict[str, LayerSource], path: Path) -> Path:
    """Write a TOML config naming ``sources`` (json.dumps gives valid TOML strings)."""
    lines = []
    for name, src in sources.items():
        lines += [f"[layers.{name}]", f"path = {json.dumps(str(src.path))}"]
        if src.layer:
            lines.append(f"layer = {json.dumps(src.layer)}")
        if src.columns:
            cols = ", ".join(
                f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in src.columns.items()
            )
            lines.append(f"columns = {{ {cols} }}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@dataclass
class Expect:
    """One located problem: the layer whose file it names, the feature id, words of the message."""

    layer: str
    feature_id: str | None
    words: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Errors: each case returns the sources of a damaged district and the problems it must raise.

ERRORS: dict[str, Callable[[Path], tuple[dict[str, LayerSource], list[Expect]]]] = {}


def error_case(fn):
    ERRORS[fn.__name__] = fn
    return fn


def _counts(tmp, column, value, words, fmt="geojson"):
    bld = buildings()
    bld[column] = bld[column].astype(object)
    bld.loc[1, column] = value
    return district_files(tmp, bld=bld, fmt=fmt), [Expect("buildings", "B01", (column, *words))]


@error_case
def negative_households(tmp):
    return _counts(tmp, "households", -3, ("negative",))


@error_case
def missing_households(tmp):
    return _counts(tmp, "households", None, ("missing",))


@error_case
def fractional_households(tmp):
    return _counts(tmp, "households", 2.5, ("2.5", "not a whole number"))


@error_case
def text_households(tmp):
    return _counts(tmp, "households", "abc", ("'abc'", "not a number"))


@error_case
def negative_residents(tmp):
    return _counts(tmp, "residents", -10, ("negative",))


@error_case
def negative_households_shapefile(tmp):
    # The shapefile holds 户数/人口 (aliases); the message uses gridgeo's name and the file's id.
    return _counts(tmp, "households", -3, ("negative",), fmt="shp")


@error_case
def duplicate_building_id(tmp):
    bld = buildings()
    bld.loc[5, "building_id"] = "B01"
    return district_files(tmp, bld=bld), [Expect("buildings", "B01", ("duplicate", "building_id"))]


@error_case
def duplicate_community_code(tmp):
    com = communities()
    com.loc[2, "community_code"] = CODES[0]
    return district_files(tmp, com=com), [
        Expect("communities", CODES[0], ("duplicate", "community_code"))
    ]


@error_case
def blank_building_id(tmp):
    bld = buildings()
    bld.loc[1, "building_id"] = None
    return district_files(tmp, bld=bld), [Expect("buildings", "row 2", ("building_id is empty",))]


def _bad_code(code, words):
    def case(tmp):
        com = communities()
        com.loc[1, "community_code"] = code
        return district_files(tmp, com=com), [Expect("communities", code, words)]

    case.__name__ = f"code_{code}"
    return case


BAD_CODES = {
    "37020302600": ("not a 12-digit",),  # 11 digits
    "3702030260041": ("not a 12-digit",),  # 13 digits
    "37020302600A": ("not a 12-digit",),
    "370203026000": ("street/town code",),
    "370203000004": ("county code",),
    "370203026999": ("001–199",),
    "000203026004": ("province",),
}
for _code, _words in BAD_CODES.items():
    error_case(_bad_code(_code, _words))


@error_case
def building_is_a_line(tmp):
    bld = buildings()
    bld.loc[1, "geometry"] = LineString([(X0 + 10, Y0 + 10), (X0 + 30, Y0 + 30)])
    return district_files(tmp, bld=bld, fmt="geojson"), [
        Expect("buildings", "B01", ("LineString", "Point or Polygon"))
    ]


@error_case
def community_is_a_point(tmp):
    com = communities()
    com.loc[2, "geometry"] = Point(X0 + 2.5 * SIDE, Y0 + SIDE / 2)
    return district_files(tmp, com=com, fmt="geojson"), [
        Expect("communities", CODES[2], ("Point", "Polygon"))
    ]


@error_case
def roads_are_polygons(tmp):
    sources = district_files(tmp)
    roads = gpd.GeoDataFrame(
        {"road_id": ["R1"]}, geometry=[box(X0, Y0, X0 + 10, Y0 + SIDE)], crs=GK
    )
    sources["roads"] = write(roads, tmp / "roads.gpkg")
    return sources, [Expect("roads", "R1", ("Polygon", "LineString"))]


@error_case
def building_collapses_when_repaired(tmp):
    # All vertices on one line: make_valid leaves a line, no area to hold households.
    bld = buildings()
    bld.loc[1, "geometry"] = Polygon([(X0 + 10, Y0 + 10), (X0 + 20, Y0 + 20), (X0 + 30, Y0 + 30)])
    return district_files(tmp, bld=bld), [
        Expect("buildings", "B01", ("invalid polygon", "refused"))
    ]


@error_case
def building_outside_every_community(tmp):
    bld = buildings()
    bld.loc[1, "geometry"] = box(X0 - 2000, Y0, X0 - 1960, Y0 + 40)
    return district_files(tmp, bld=bld), [
        Expect("buildings", "B01", ("outside every community", "41 households"))
    ]


@error_case
def overlapping_communities(tmp):
    com = communities()
    com.loc[0, "geometry"] = box(X0, Y0, X0 + SIDE + 100, Y0 + SIDE)
    return district_files(tmp, com=com), [
        Expect("communities", CODES[0], ("overlaps community", CODES[1], "40,000.0 m²"))
    ]


@error_case
def empty_buildings_layer(tmp):
    return district_files(tmp, bld=buildings().iloc[0:0]), [Expect("buildings", None, ("empty",))]


@error_case
def empty_communities_layer(tmp):
    return district_files(tmp, com=communities().iloc[0:0]), [
        Expect("communities", None, ("empty",))
    ]


@error_case
def missing_crs_shapefile(tmp):
    sources = district_files(tmp, fmt="shp")
    sources["communities"].path.with_suffix(".prj").unlink()
    return sources, [Expect("communities", None, ("no CRS", "EPSG:4549"))]


@error_case
def missing_crs_flatgeobuf(tmp):
    sources = district_files(tmp)
    no_crs = buildings().set_crs(None, allow_override=True)
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # the defect itself
        sources["buildings"] = write(no_crs, tmp / "buildings.fgb")
    return sources, [Expect("buildings", None, ("no CRS",))]


def _geojson_without_crs(gdf: gpd.GeoDataFrame, path: Path) -> LayerSource:
    # Exported in GK metres but without a "crs" member: the standard reads it as WGS 84.
    fc = json.loads(gdf.to_json(to_wgs84=False))
    fc.pop("crs", None)
    path.write_text(json.dumps(fc), encoding="utf-8")
    return LayerSource(path)


@error_case
def projected_geojson_without_crs(tmp):
    sources = district_files(tmp)
    sources["buildings"] = _geojson_without_crs(buildings(), tmp / "buildings.geojson")
    return sources, [
        Expect("buildings", None, ("first: id B00", "outside longitude/latitude", "projected CRS"))
    ]


@error_case
def projected_geojson_without_crs_both_layers(tmp):
    sources = {
        "communities": _geojson_without_crs(communities(), tmp / "communities.geojson"),
        "buildings": _geojson_without_crs(buildings(), tmp / "buildings.geojson"),
    }
    return sources, [
        Expect("communities", None, (f"first: id {CODES[0]}", "outside longitude/latitude")),
        Expect("buildings", None, ("first: id B00", "outside longitude/latitude")),
    ]


def _png() -> bytes:
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return head + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


NOT_GIS = {
    "text_as_gpkg": ("communities.gpkg", b"This is a note, not a map.\n", "not a GIS file"),
    "png_as_gpkg": ("communities.gpkg", _png(), "not a GIS file"),
    "empty_file_as_gpkg": ("communities.gpkg", b"", "not a GIS file"),
    "broken_geojson": (
        "communities.geojson",
        b'{"type": "FeatureCollection", "features": [',
        "not a GIS file",
    ),
    "garbage_as_shp": ("communities.shp", b"\x00\x01garbage", "not a GIS file"),
    "csv_table": ("communities.csv", "社区代码,名称\n370203026002,南山\n".encode(), "no geometry"),
}


def _not_gis(key):
    name, content, words = NOT_GIS[key]

    def case(tmp):
        sources = district_files(tmp)
        path = tmp / name
        path.write_bytes(content)
        sources["communities"] = LayerSource(path)
        return sources, [
            Expect("communities", None, (words.replace("not a GIS file", "as a GIS file"),))
        ]

    case.__name__ = key
    return case


for _key in NOT_GIS:
    error_case(_not_gis(_key))


@error_case
def file_not_found(tmp):
    sources = district_files(tmp)
    sources["buildings"] = LayerSource(tmp / "no_such_buildings.gpkg")
    return sources, [Expect("buildings", None, ("file not found",))]


@error_case
def layer_not_in_geopackage(tmp):
    sources = district_files(tmp)
    path = tmp / "district.gpkg"
    write(communities(), path, layer="communities")
    write(buildings(), path, layer="buildings")
    sources["communities"] = LayerSource(path, "communities")
    sources["buildings"] = LayerSource(path, "building")  # a typo
    return sources, [Expect("buildings", None, ("no layer 'building'", "communities", "buildings"))]


@error_case
def missing_households_column(tmp):
    bld = buildings().rename(columns={"households": "HH_2020"})
    return district_files(tmp, bld=bld), [
        Expect("buildings", None, ("missing column(s) households", "HH_2020", "--map"))
    ]


@error_case
def mapped_column_absent(tmp):
    sources = district_files(tmp)
    sources["buildings"].columns = {"households": "住户数"}
    return sources, [Expect("buildings", None, ("住户数", "not in the file"))]


@error_case
def unknown_landuse_class(tmp):
    sources = district_files(tmp)
    lu = gpd.GeoDataFrame({"landuse_id": ["L1", "L2"], "landuse_class": ["学校", "火星基地"]},
                          geometry=[box(X0 + 5, Y0 + 5, X0 + 30, Y0 + 30), box(X0 + 5, Y0 + 300, X0 + 30, Y0 + 330)],
                          crs=GK)  # fmt: skip
    sources["landuse"] = write(lu, tmp / "landuse.gpkg")
    return sources, [Expect("landuse", "L2", ("unknown landuse_class", "火星基地"))]


@error_case
def gbk_shapefile_without_cpg(tmp):
    sources = district_files(tmp)
    path = tmp / "buildings.shp"
    buildings().rename(columns=SHP_NAMES).assign(名称="南山小区").to_file(path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    sources["buildings"] = LayerSource(path)
    return sources, [Expect("buildings", None, ("not UTF-8", "buildings.cpg", "GBK"))]


@error_case
def several_defects_in_two_files(tmp):
    # One pass reports every problem of every file, so the planner fixes them all at once.
    com = communities()
    com.loc[2, "community_code"] = "370203026000"
    bld = buildings()
    bld.loc[0, "households"] = -1
    bld.loc[5, "geometry"] = box(X0, Y0 - 900, X0 + 40, Y0 - 860)
    bld.loc[7, "building_id"] = "B00"
    return district_files(tmp, com=com, bld=bld), [
        Expect("communities", "370203026000", ("street/town code",)),
        Expect("buildings", "B00", ("households is negative",)),
        Expect("buildings", "B00", ("duplicate",)),
    ]


def _matches(problem, sources, expect: Expect) -> bool:
    return (
        problem.source == sources[expect.layer].label
        and problem.feature_id == expect.feature_id
        and all(w.lower() in problem.message.lower() for w in expect.words)
    )


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_names_file_feature_and_problem(case, tmp_path):
    sources, expected = ERRORS[case](tmp_path)
    with pytest.raises(InputError) as info:
        load_district(sources)
    problems = info.value.problems
    for e in expected:
        assert any(_matches(p, sources, e) for p in problems), (e, [str(p) for p in problems])
    assert str(sources[expected[0].layer].path) in str(info.value)


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_cli_validate_error_exit_2_one_line_per_problem(case, tmp_path, capsys):
    sources, _ = ERRORS[case](tmp_path)
    with pytest.raises(InputError) as info:
        load_district(sources)
    config = write_config(sources, tmp_path / "district.toml")
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("gridgeo validate: error:")
    for p in info.value.problems:
        assert "  " + str(p) in lines, (str(p), lines)
    assert len(lines) == 1 + len(info.value.problems)


def test_all_problems_reported_in_one_pass(tmp_path):
    sources, _ = ERRORS["several_defects_in_two_files"](tmp_path)
    with pytest.raises(InputError) as info:
        load_district(sources)
    # The community code error and the building errors come from different files; the
    # stray building is found even though another file already failed.
    labels = {p.source for p in info.value.problems}
    assert labels == {sources["communities"].label, sources["buildings"].label}
    assert len(info.value.problems) >= 3


# --------------------------------------------------------------------------------------------
# Warnings: repaired defects, reported as located findings.


@dataclass
class Warned:
    sources: dict[str, LayerSource]
    rule: str
    layer: str
    feature_id: str | None
    words: tuple[str, ...]
    check: Callable = field(default=lambda district: None)


WARNINGS: dict[str, Callable[[Path], Warned]] = {}


def warning_case(fn):
    WARNINGS[fn.__name__] = fn
    return fn


@warning_case
def mixed_crs(tmp):
    # Buildings in CGCS2000 longitude/latitude, communities in GK metres: reprojected.
    sources = district_files(tmp)
    sources["buildings"] = write(buildings().to_crs(4490), tmp / "buildings_lonlat.fgb")

    def check(d):
        assert sorted(d.buildings["community_code"]) == sorted([c for c in CODES for _ in range(4)])

    return Warned(sources, "input.crs", "buildings", None, ("China Geodetic", "reprojected"), check)


@warning_case
def building_bowtie_repaired(tmp):
    bld = buildings()
    x, y = X0 + 40, Y0 + 100
    bld.loc[0, "geometry"] = Polygon([(x, y), (x + 40, y + 40), (x + 40, y), (x, y + 40)])

    def check(d):
        g = d.buildings.set_index("building_id").geometry["B00"]
        assert g.is_valid and g.area == pytest.approx(800, rel=1e-6)

    return Warned(district_files(tmp, bld=bld), "input.geometry", "buildings", "B00",
                  ("invalid geometry", "self-intersection", "make_valid"), check)  # fmt: skip


@warning_case
def community_ring_crosses_itself(tmp):
    # A digitising slip twists the south-west corner into a small figure eight (25 m² cut off
    # the square, 25 m² looped outside it): make_valid keeps both lobes, so no area is lost.
    com = communities()
    ring = [
        (X0, Y0),
        (X0 + SIDE, Y0),
        (X0 + SIDE, Y0 + SIDE),
        (X0, Y0 + SIDE),
        (X0, Y0 + 10),
        (X0 + 10, Y0 - 10),
    ]
    com.loc[0, "geometry"] = Polygon(ring)

    def check(d):
        g = d.communities.set_index("community_code").geometry[CODES[0]]
        assert g.is_valid and g.area == pytest.approx(SIDE * SIDE, abs=0.1)
        assert (d.buildings["community_code"] == CODES[0]).sum() == 4

    return Warned(district_files(tmp, com=com, fmt="shp"), "input.geometry", "communities", CODES[0],
                  ("self-intersection", "repaired"), check)  # fmt: skip


@warning_case
def building_on_community_border(tmp):
    bld = buildings()
    bld.loc[3, "geometry"] = box(
        X0 + SIDE - 10, Y0 + 300, X0 + SIDE + 30, Y0 + 340
    )  # 3/4 in CODES[1]

    def check(d):
        assert d.buildings.set_index("building_id").at["B03", "community_code"] == CODES[1]

    return Warned(district_files(tmp, bld=bld), "input.border", "buildings", "B03",
                  (CODES[0], CODES[1], f"counted in {CODES[1]}"), check)  # fmt: skip


@warning_case
def sliver_overlap_trimmed(tmp):
    com = communities()
    spike = Polygon(
        [(X0 + SIDE, Y0 + 200), (X0 + SIDE + 1, Y0 + 200.5), (X0 + SIDE, Y0 + 201)]
    )  # 0.5 m²
    com.loc[0, "geometry"] = com.geometry[0].union(spike)

    def check(d):
        g = d.communities.geometry.values
        assert shapely.area(shapely.intersection(g[0], g[1])) < 1e-6

    return Warned(district_files(tmp, com=com), "input.overlap", "communities", CODES[1],
                  ("sliver overlap", "0.500 m²", CODES[0]), check)  # fmt: skip


@warning_case
def code_not_in_nbs_table(tmp):
    code = "370203026198"
    assert code not in load_divisions().index and not code_problems(code)
    com = communities()
    com.loc[1, "community_code"] = code
    return Warned(
        district_files(tmp, com=com), "input.code", "communities", code, ("not in the NBS",)
    )


@warning_case
def community_name_differs(tmp):
    com = communities()
    com.loc[1, "name"] = "幸福社区"
    return Warned(district_files(tmp, com=com), "input.code", "communities", CODES[1],
                  ("幸福社区", "阜康社区居委会"))  # fmt: skip


@warning_case
def building_code_does_not_match_location(tmp):
    bld = buildings().assign(社区代码=CODES[0])  # every building claims the first community
    return Warned(district_files(tmp, bld=bld), "input.code", "buildings", "B10",
                  (f"says community {CODES[0]}", f"lies in {CODES[1]}"))  # fmt: skip


@warning_case
def fewer_residents_than_households(tmp):
    bld = buildings()
    bld.loc[2, "residents"] = 3
    return Warned(
        district_files(tmp, bld=bld), "input.counts", "buildings", "B02", ("fewer residents",)
    )


@warning_case
def empty_optional_landuse(tmp):
    sources = district_files(tmp)
    lu = gpd.GeoDataFrame(
        {"landuse_id": [], "landuse_class": []}, geometry=gpd.GeoSeries([], crs=GK), crs=GK
    )
    sources["landuse"] = write(lu, tmp / "landuse.gpkg")
    return Warned(sources, "input.empty", "landuse", None, ("empty",))


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_warning_is_a_located_finding(case, tmp_path):
    w = WARNINGS[case](tmp_path)
    district = load_district(w.sources)
    f = district.findings
    hit = f[(f["rule"] == w.rule) & (f["source"] == w.sources[w.layer].label)]
    hit = (
        hit[hit["feature_id"].isna()]
        if w.feature_id is None
        else hit[hit["feature_id"] == w.feature_id]
    )
    assert len(hit) == 1, f[["rule", "source", "feature_id", "message"]].to_string()
    row = hit.iloc[0]
    assert row["severity"] == "warning"
    for word in w.words:
        assert word.lower() in row["message"].lower(), row["message"]
    if w.feature_id is not None:  # a located feature carries where it is
        assert 120.3 < row["lon"] < 120.4 and 36.0 < row["lat"] < 36.2
        assert row.geometry is not None and not row.geometry.is_empty
    w.check(district)


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_cli_validate_warning_exit_0_prints_finding(case, tmp_path, capsys):
    w = WARNINGS[case](tmp_path)
    config = write_config(w.sources, tmp_path / "district.toml")
    assert main(["validate", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    where = f" [{w.feature_id}]" if w.feature_id else ""
    lines = [
        ln
        for ln in out.splitlines()
        if ln.startswith(f"  warning {w.rule} {w.sources[w.layer].label}{where}: ")
    ]
    assert lines and all(word.lower() in lines[0].lower() for word in w.words), out
    assert "TOTAL" in out


# --------------------------------------------------------------------------------------------
# The valid district itself, and what validation must leave alone.


def test_valid_district_has_no_findings(tmp_path):
    district = load_district(district_files(tmp_path))
    assert len(district.findings) == 0
    assert len(district.communities) == 3 and len(district.buildings) == 12
    per = district.buildings.groupby("community_code")["households"].sum()
    assert per.to_dict() == {c: 40 + 41 + 42 + 43 for c in CODES}


def test_validate_layers_leaves_the_callers_frames_alone():
    com = communities().assign(community_code=lambda d: d["community_code"].astype("int64"))
    bld = buildings()
    bld.loc[0, "geometry"] = Polygon(
        [(X0 + 40, Y0 + 100), (X0 + 80, Y0 + 140), (X0 + 80, Y0 + 100), (X0 + 40, Y0 + 140)]
    )
    before = com.copy(), bld.copy()
    district = validate_layers({"communities": com, "buildings": bld})
    assert_geodataframe_equal(com, before[0])
    assert_geodataframe_equal(bld, before[1])
    # A spreadsheet that made the codes numbers still gives 12-digit text codes.
    assert list(district.communities["community_code"]) == list(CODES)


def test_missing_required_layer_is_an_error(tmp_path):
    sources = district_files(tmp_path)
    del sources["buildings"]
    with pytest.raises(InputError, match="buildings layer is required"):
        load_district(sources)


def test_community_outlines_are_kept_as_given(sample_layers, sample_district):
    # No 1 cm snapping any more: the work-CRS outline is the input's, to within 1 µm.
    com = sample_layers["communities"].to_crs(sample_district.communities.crs)
    mine = sample_district.communities.set_index("community_code").geometry
    for code, poly in zip(com["community_code"], com.geometry, strict=True):
        assert shapely.hausdorff_distance(poly, mine[code]) < 1e-5
        assert shapely.symmetric_difference(poly, mine[code]).area < 0.01
