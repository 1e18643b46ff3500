"""Notice boards and contact cards (S2): code, names, phones on the PDF; PNGs; deterministic."""

from __future__ import annotations

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
