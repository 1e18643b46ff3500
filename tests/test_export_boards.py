"""Notice boards and contact cards (S2): code, names, phones on the PDF; PNGs; deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from gridgeo.coding import assign_codes
from gridgeo.errors import InputError
from gridgeo.export import assign_staff, sample_roster, write_boards


@pytest.fixture(scope="module")
def grids(sample_result):
    return assign_codes(sample_result.grids)


@pytest.fixture(scope="module")
def community(grids):
    """The grids of the first community: a board batch small enough for a test."""
    return sorted(
        grids.loc[grids["community_code"] == grids["community_code"].iloc[0], "grid_code"]
    )


@pytest.fixture(scope="module")
def plan(grids):
    return assign_staff(grids, sample_roster(grids, seed=1), time_limit=1.0)


@pytest.fixture(scope="module")
def batch(grids, plan, community, sample_district, tmp_path_factory):
    out = tmp_path_factory.mktemp("boards")
    ded = sample_district.landuse[sample_district.landuse["category"] == "dedicated"]
    files = write_boards(grids, plan, out, buildings=sample_district.buildings, dedicated=ded,
                         grid_codes=community, papers=("A4", "A3"), supervision_phone="0532-8000-0000", dpi=40)  # fmt: skip
    return out, files


def test_one_pdf_per_street_and_paper(batch, community):
    out, files = batch
    street = community[0][:9]
    pdfs = [f for f in files if f.suffix == ".pdf"]
    assert [p.name for p in pdfs] == [f"boards_{street}_A4.pdf", f"boards_{street}_A3.pdf"]
    for pdf, (w_mm, h_mm) in zip(pdfs, [(210, 297), (297, 420)], strict=True):
        reader = PdfReader(pdf)
        assert len(reader.pages) == 2 * len(community)  # a board and a card page per grid
        box = reader.pages[0].mediabox
        assert (
            abs(float(box.width) - w_mm / 25.4 * 72) < 1
            and abs(float(box.height) - h_mm / 25.4 * 72) < 1
        )


def test_board_text_names_code_people_and_phones(batch, plan, community, grids):
    out, files = batch
    reader = PdfReader(next(f for f in files if f.name.endswith("_A4.pdf")))
    row = grids.set_index("grid_code")
    for k, code in enumerate(community):
        board = reader.pages[2 * k].extract_text()
        card = reader.pages[2 * k + 1].extract_text()
        assert code in board and "网格公示牌" in board
        assert row.at[code, "community_name"] in board
        assert "阜新路街道办事处" in board or "宝山镇" in board  # the NBS street name
        assert f"户数 {row.at[code, 'households']} 户" in board
        assert "0532-8000-0000" in board and "0532-8000-0000" in card
        people = plan.for_grid(code)
        order = {"leader": 0, "full_time": 1, "part_time": 2, "instructor": 3}  # the card's order
        people = people.assign(_o=people["role"].map(order).fillna(9)).sort_values(
            ["_o", "name"], kind="stable"
        )
        assert len(people) and (people["role"].isin(["leader", "full_time"])).any()
        for k, person in enumerate(people.itertuples()):
            assert person.name in board and person.phone in board and person.role_label in board
            if (
                len(people) <= 5 or k < 4
            ):  # a card holds five lines; the rest are referred to the board
                assert person.name in card
        if len(people) > 5:
            assert f"另有 {len(people) - 4} 名网格员" in card
        assert "民情联系卡" in card


def test_pngs_of_every_page(batch, community):
    out, files = batch
    pngs = [f for f in files if f.suffix == ".png"]
    assert sorted(p.name for p in pngs) == sorted(
        f"{c}_{k}.png" for c in community for k in ("board", "card")
    )
    with Image.open(pngs[0]) as im:
        assert abs(im.size[0] - 210 / 25.4 * 40) <= 1 and abs(im.size[1] - 297 / 25.4 * 40) <= 1
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # something is drawn


def test_same_input_same_bytes(grids, plan, community, tmp_path):
    one = community[:1]
    a = write_boards(grids, plan, tmp_path / "a", grid_codes=one, dpi=30)
    b = write_boards(grids, plan, tmp_path / "b", grid_codes=one, dpi=30)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_unstaffed_grid_is_refused(grids, plan, community, tmp_path):
    partial = plan.assignments[plan.assignments["grid_code"] != community[0]]
    with pytest.raises(InputError, match="no full-time worker"):
        write_boards(grids, partial, tmp_path, grid_codes=community[:2], png=False)
    with pytest.raises(InputError, match="no grid lies in street"):
        write_boards(grids, plan, tmp_path, street="999999999", png=False)


# -- hostile text, file names and photos (issue 17) -------------------------------------------


def _tiny(community_code: str = "370203026004", grid_code: str = "3702030260041001000"):
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import box

    grids = gpd.GeoDataFrame(
        {"grid_code": [grid_code], "community_code": [community_code], "community_name": [r"$\alpha$ 社区"],
         "households": [400], "residents": [1000]},
        geometry=[box(532_400, 3_996_700, 532_800, 3_997_000)], crs="EPSG:4549",
    )  # fmt: skip
    staff = pd.DataFrame(
        {"grid_code": [grid_code, grid_code], "name": [r"$\foo{x}$", r"$\alpha$"],
         "phone": ["138-0000-0001", "$5$"], "role": ["full_time", "part_time"],
         "duties": [r"巡查 $\sqrt{2}$ 楼", "协助"], "photo": ["", ""], "worker_id": ["W1", "W2"]}
    )  # fmt: skip
    return grids, staff


def test_names_with_dollars_are_printed_as_written(tmp_path):
    grids, staff = _tiny()
    files = write_boards(grids, staff, tmp_path, dpi=20)
    text = " ".join(p.extract_text() for p in PdfReader(files[0]).pages)
    for literal in (r"$\foo{x}$", r"$\alpha$", "$5$", r"$\sqrt{2}$"):
        assert literal in text
    assert "α" not in text


def test_file_names_from_data_stay_inside_the_output_folder(tmp_path):
    out = tmp_path / "deep" / "out"
    grids, staff = _tiny(community_code="../../../x", grid_code="../../../evil")
    staff["grid_code"] = "../../../evil"
    files = write_boards(grids, staff, out, dpi=20)
    assert files and all(f.resolve().parent == out.resolve() for f in files)
    assert {p.name for p in out.iterdir()} == {f.name for f in files}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        f"deep/out/{f.name}" for f in files
    )
    assert not any(".." in f.name or "/" in f.name for f in files)


def test_distinct_unsafe_codes_get_distinct_files(tmp_path):
    from gridgeo.export._common import output_file, safe_name

    assert safe_name("370203026") == "370203026"
    assert safe_name("a/b") != safe_name("a_b") and safe_name("a/b") != safe_name("a\\b")
    for hostile in ("..", ".", "", "../x", "x/../../y", "\x00", "con\n"):
        name = safe_name(hostile)
        assert output_file(tmp_path, f"{name}.png").parent == tmp_path
    with pytest.raises(InputError, match="leave the output folder"):
        output_file(tmp_path, "../x.png")


def _png_header(path, width: int, height: int) -> None:
    """A valid PNG signature and IHDR claiming a size, with no pixel data behind it."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)))  # fmt: skip


def test_a_decompression_bomb_photo_is_refused_before_decoding(tmp_path, monkeypatch):
    import matplotlib.image

    from gridgeo.export.roster import photo_problem, read_roster

    bomb = tmp_path / "bomb.png"
    _png_header(bomb, 20_000, 20_000)
    problem = photo_problem(bomb, source="roster.csv", feature_id="W1")
    assert problem is not None and "20000 x 20000" in problem.message and problem.feature_id == "W1"

    roster = tmp_path / "roster.csv"
    roster.write_text("worker_id,name,phone,kind,photo\nW1,王伟,138,full_time,bomb.png\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_roster(roster)
    assert info.value.problems[0].source == str(roster) and "bomb.png" in info.value.problems[0].message

    def no_decoding(*args, **kwargs):
        raise AssertionError("the photo was decoded")

    monkeypatch.setattr(matplotlib.image, "imread", no_decoding)
    grids, staff = _tiny()
    staff["photo"] = [str(bomb), ""]
    with pytest.raises(InputError, match="refused before decoding"):
        write_boards(grids, staff, tmp_path / "out", dpi=20)
    not_an_image = tmp_path / "photo.png"
    not_an_image.write_text("<svg/>")
    staff["photo"] = [str(not_an_image), ""]
    with pytest.raises(InputError, match="not a PNG or JPEG"):
        write_boards(grids, staff, tmp_path / "out", dpi=20)


def test_a_small_photo_is_drawn(tmp_path):
    grids, staff = _tiny()
    photo = tmp_path / "face.jpg"
    Image.new("RGB", (30, 40), (20, 210, 40)).save(photo)  # a green no board draws otherwise
    import numpy as np

    from gridgeo.export.roster import photo_size

    assert photo_size(photo) == ("JPEG", 30, 40)

    def greens(folder) -> int:
        files = write_boards(grids, staff, folder, dpi=20)
        with Image.open(next(f for f in files if f.name.endswith("_board.png"))) as im:
            px = np.asarray(im.convert("RGB")).astype(int)
        return int((np.abs(px - [20, 210, 40]).max(axis=2) < 40).sum())

    assert greens(tmp_path / "without") == 0
    staff["photo"] = [str(photo), ""]
    assert greens(tmp_path / "with") > 0


# -- boards fit for a wall (issue 18) ----------------------------------------------------------


def _fonts(reader: PdfReader) -> set[str]:
    """Subtypes of every font the pages use (descendant fonts of Type0 included)."""
    kinds = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            kinds.add(str(font["/Subtype"]))
            for d in font.get("/DescendantFonts", []):
                kinds.add(str(d.get_object()["/Subtype"]))
    return kinds


def _sized_texts(page) -> list[tuple[str, float]]:
    """(text, size in pt) of every text run of a page."""
    runs = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            runs.append((text.strip(), size * abs(cm[3] * tm[3]) ** 0.5 if tm[3] else size))

    page.extract_text(visitor_text=visit)
    return runs


def test_fonts_are_embedded_truetype_not_type3(batch):
    out, files = batch
    for pdf in (f for f in files if f.suffix == ".pdf"):
        kinds = _fonts(PdfReader(pdf))
        assert "/Type3" not in kinds
        assert "/CIDFontType2" in kinds or "/TrueType" in kinds


def test_inset_names_the_streets(batch, sample_district, grids, plan, community, tmp_path):
    ded = sample_district.landuse[sample_district.landuse["category"] == "dedicated"]
    files = write_boards(grids, plan, tmp_path, buildings=sample_district.buildings, dedicated=ded,
                         roads=sample_district.roads, rivers=sample_district.rivers,
                         grid_codes=community, png=False)  # fmt: skip
    streets = set(sample_district.roads["name"].astype(str))
    reader = PdfReader(files[0])
    for k in range(len(community)):
        board = reader.pages[2 * k].extract_text()
        assert [n for n in streets if n in board.split()], f"no street named on board {k}"


def test_duties_are_at_least_10_pt_on_a4_and_scaled_on_a3(batch):
    out, files = batch
    for pdf, least in zip([f for f in files if f.suffix == ".pdf"], (10.0, 14.0), strict=True):
        sizes = [size for text, size in _sized_texts(PdfReader(pdf).pages[0]) if text.startswith("职责")]
        assert sizes and min(sizes) >= least


def test_duties_are_printed_whole(batch, plan, community):
    out, files = batch
    reader = PdfReader(next(f for f in files if f.name.endswith("_A4.pdf")))
    for k, code in enumerate(community):
        board = reader.pages[2 * k].extract_text().replace("\n", "")
        assert "…" not in board
        for person in plan.for_grid(code).itertuples():
            assert person.duties and person.duties in board


def test_grid_leader_line_is_always_there(tmp_path):
    grids, staff = _tiny()  # a full-time and a part-time worker, no 网格长
    files = write_boards(grids, staff, tmp_path, png=False)
    text = PdfReader(files[0]).pages[0].extract_text()
    assert "网格长" in text and "待定" in text


def test_the_map_fills_the_page(batch, community):
    """Nothing but the footer below the people: no empty quarter (PNG rows of plain white)."""
    out, files = batch
    png = next(f for f in files if f.name.endswith("_board.png"))
    with Image.open(png) as im:
        gray = im.convert("L")
        w, h = gray.size
        blank = [y for y in range(h) if gray.crop((0, y, w, y + 1)).getextrema()[0] >= 250]
    assert len(blank) < 0.12 * h


@pytest.mark.parametrize(
    "text",
    ["职责：基础信息采集、社情民意收集、安全隐患排查、矛盾纠纷化解、法律法规宣传、公共服务代办",
     "职责：协助网格员开展信息采集，隐患排查。", "巡查 $\\sqrt{2}$ 楼和 Building-12A 的消防通道（每周）",
     "统筹网格工作调度网格员组织民情分析会议"],
)  # fmt: skip
@pytest.mark.parametrize("width", [9, 12, 17, 20])
def test_cjk_line_breaking(text, width):
    from gridgeo.export.boards import _NO_END, _NO_START, _width, _wrap

    lines = _wrap(text, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    assert all(_width(line) <= width for line in lines)
    assert not [ln for ln in lines[1:] if ln[0] in _NO_START]  # no line opens with ，。、）
    assert not [ln for ln in lines[:-1] if ln[-1] in _NO_END]  # none ends with （
    assert len(lines) == 1 or _width(lines[-1]) > 1  # no orphan character
    for word in ("Building-12A", "$\\sqrt{2}$"):
        if word in text:
            assert any(word in ln for ln in lines)


# -- QR code per grid (issue 18, 规范 六.4 扫码进群) ------------------------------------------


def _board_png(files) -> np.ndarray:
    with Image.open(next(f for f in files if f.name.endswith("_board.png"))) as im:
        return np.asarray(im.convert("L"))


def _with_link(url: str = "https://example.org/wechat/{grid_code}"):
    grids, staff = _tiny()
    staff["qr_url"] = [url, ""]
    return grids, staff, url.replace("{grid_code}", grids["grid_code"].iloc[0])


def test_a_qr_link_prints_a_vector_code_with_its_caption(tmp_path):
    grids, staff, url = _with_link()
    files = write_boards(grids, staff, tmp_path, dpi=20)
    reader = PdfReader(files[0])
    board, card = reader.pages[0], reader.pages[1]
    assert "扫码进群" in board.extract_text() and "扫码进群" not in card.extract_text()
    # Drawn as a path, not an image: nothing in the page's XObjects.
    assert not list((board["/Resources"].get("/XObject") or {}).keys())
    again = write_boards(grids, staff, tmp_path / "again", dpi=20)
    assert [p.read_bytes() for p in files] == [p.read_bytes() for p in again]  # deterministic


@pytest.mark.parametrize("paper", ["A4", "A3"])
def test_the_printed_modules_are_the_links_qr_code(tmp_path, paper):
    import segno

    from gridgeo.export.boards import PAPERS, qr_box

    grids, staff, url = _with_link()
    dpi = 300
    files = write_boards(grids, staff, tmp_path, papers=(paper,), dpi=dpi)
    px = _board_png(files)
    expected = np.array(segno.make_qr(url, error="q", boost_error=False).matrix, dtype=bool)
    n = len(expected)
    left, bottom, side = qr_box(PAPERS[paper])
    height = PAPERS[paper][1]
    centres = (np.arange(n) + 0.5) * side / n
    cols = np.round((left + centres) * dpi).astype(int)
    rows = np.round((height - bottom - side + centres) * dpi).astype(int)
    drawn = px[np.ix_(rows, cols)] < 128
    assert drawn.shape == expected.shape and (drawn == expected).all()
    # The quiet zone around it is white (two modules at least).
    ring = np.round((left - 2 * side / n) * dpi).astype(int), np.round((left + side + 2 * side / n) * dpi).astype(int)
    assert px[rows[0]:rows[-1], ring[0]].min() > 200 and px[rows[0]:rows[-1], ring[1]].min() > 200


def test_a_phone_decoder_reads_the_printed_code(tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    grids, staff, url = _with_link()
    files = write_boards(grids, staff, tmp_path, dpi=100)  # a PNG as coarse as a phone photo
    found = zxingcpp.read_barcodes(_board_png(files))
    assert [r.text for r in found] == [url]


def test_no_link_leaves_the_board_byte_identical(tmp_path):
    grids, staff = _tiny()
    plain = write_boards(grids, staff, tmp_path / "plain", dpi=20)
    empty = write_boards(grids, staff.assign(qr_url=["", " "]), tmp_path / "empty", dpi=20)
    linked = write_boards(grids, _with_link()[1], tmp_path / "linked", dpi=20)
    assert [p.read_bytes() for p in plain] == [p.read_bytes() for p in empty]
    assert plain[0].read_bytes() != linked[0].read_bytes()
    assert "扫码进群" not in PdfReader(plain[0]).pages[0].extract_text()


@pytest.mark.parametrize(
    ("url", "says"),
    [("weixin group 3", "is not a link"), ("ftp://example.org/g", "is not a link"),
     ("https://exa mple.org/g", "is not a link"), ("https://", "is not a link"),
     ("https://example.org/" + "g" * 300, "too long")],
)  # fmt: skip
def test_a_bad_link_is_a_located_error_in_both_languages(tmp_path, url, says):
    from gridgeo import i18n

    grids, staff, _ = _with_link(url)
    code = grids["grid_code"].iloc[0]
    with pytest.raises(InputError) as info:
        write_boards(grids, staff, tmp_path / "out", dpi=20)
    (problem,) = info.value.problems
    assert problem.feature_id == code and problem.source == "staff" and says in problem.message
    assert not (tmp_path / "out").exists()  # refused before a page is written
    try:
        i18n.set_language("zh")
        with pytest.raises(InputError) as info:
            write_boards(grids, staff, tmp_path / "out", dpi=20)
        assert "二维码链接" in str(info.value) and code in str(info.value)
    finally:
        i18n.set_language("en")


def test_the_roster_column_in_chinese_fills_each_grids_code(tmp_path, grids, community):
    from gridgeo.export.roster import read_roster

    one = grids[grids["grid_code"].isin(community)]
    roster = sample_roster(one, seed=1).rename(columns={"qr_url": "二维码链接"})
    roster["二维码链接"] = "https://example.org/wechat/{grid_code}"
    roster.loc[roster.index[0], "二维码链接"] = "mailto:someone"
    roster.to_csv(tmp_path / "roster.csv", index=False)
    with pytest.raises(InputError) as info:
        read_roster(tmp_path / "roster.csv")
    (problem,) = info.value.problems
    assert problem.source == str(tmp_path / "roster.csv") and problem.feature_id == roster["worker_id"].iloc[0]
    roster.loc[roster.index[0], "二维码链接"] = ""
    roster.to_csv(tmp_path / "roster.csv", index=False)
    plan = assign_staff(one, read_roster(tmp_path / "roster.csv"), time_limit=1.0)
    links = plan.assignments.loc[plan.assignments["qr_url"] != ""]
    assert len(links) and (links["qr_url"] == "https://example.org/wechat/" + links["grid_code"]).all()


# -- characters the board font cannot draw ---------------------------------------------------------

RARE = "\U0002a6a5"  # 𪚥, a CJK Extension B character of some names, not in Noto Sans CJK SC


def test_a_character_the_font_lacks_is_a_located_warning_and_the_board_is_written(tmp_path):
    import warnings

    from gridgeo.export import BoardTextWarning

    grids, staff = _tiny()
    staff.loc[0, "name"] = f"王{RARE}"
    code = grids["grid_code"].iloc[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = write_boards(grids, staff, tmp_path, dpi=20)
    ours = [w for w in caught if issubclass(w.category, BoardTextWarning)]
    # One per text and grid: the name on the board, the card's line with the name.
    assert len(ours) == 2
    for w in ours:
        message = str(w.message)
        assert code in message and "U+2A6A5" in message and f"王{RARE}" in message
    assert {"notice board", "contact card"} == {m for w in ours for m in ("notice board", "contact card") if m in str(w.message)}
    assert not [w for w in caught if "missing from font" in str(w.message)]  # matplotlib's own, unlocated
    text = " ".join(p.extract_text() for p in PdfReader(files[0]).pages)
    assert "138-0000-0001" in text  # the board is there all the same


def test_texts_the_font_can_draw_raise_no_warning(tmp_path):
    import warnings

    from gridgeo.export import BoardTextWarning

    grids, staff = _tiny()
    staff.loc[0, "name"] = "\U00030ede\u4e7e"  # 𰻞 (Extension G) and 乾: both in the font
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoardTextWarning)
        write_boards(grids, staff, tmp_path, dpi=20, png=False)


def test_the_command_prints_the_warning_in_chinese(tmp_path, capsys):
    from gridgeo import i18n
    from gridgeo.cli import main

    grids, staff = _tiny()
    staff.loc[0, "name"] = f"王{RARE}"
    grids.to_file(tmp_path / "grids.gpkg", layer="grids")
    staff.to_csv(tmp_path / "staff.csv", index=False)
    try:
        rc = main(["--lang", "zh", "boards", str(tmp_path / "grids.gpkg"), "--staff", str(tmp_path / "staff.csv"),
                   "--out", str(tmp_path / "out"), "--no-png"])  # fmt: skip
    finally:
        i18n.set_language("en")
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "out").is_dir()
    lines = [ln for ln in err.splitlines() if "U+2A6A5" in ln]
    assert len(lines) == 2 and all("3702030260041001000" in ln and "空白方框" in ln for ln in lines)
    assert "missing from font" not in err
