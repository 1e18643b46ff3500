"""The per-grid ledger 网格台账.xlsx: read back with openpyxl, codes as text, deterministic."""

from __future__ import annotations

import pytest
from geopandas.testing import assert_geodataframe_equal
from openpyxl import load_workbook

from gridgeo.coding import assign_codes
from gridgeo.divisions import division_name
from gridgeo.errors import InputError
from gridgeo.export import assign_staff, sample_roster, write_ledger


@pytest.fixture(scope="module")
def grids(sample_result):
    return assign_codes(sample_result.grids)


@pytest.fixture(scope="module")
def plan(grids):
    return assign_staff(grids, sample_roster(grids, seed=1), time_limit=1.0)


@pytest.fixture(scope="module")
def book(grids, plan, tmp_path_factory):
    path = write_ledger(grids, tmp_path_factory.mktemp("ledger") / "网格台账.xlsx", staff=plan)
    return path, load_workbook(path)


def _rows(ws):
    rows = list(ws.iter_rows(values_only=True))
    return rows[0], rows[1:]


def test_one_sheet_per_street_and_a_summary(book, grids):
    _, wb = book
    streets = sorted(set(grids["community_code"].str[:9]))
    assert wb.sheetnames[0] == "汇总"
    assert wb.sheetnames[1:] == [division_name(s + "000") or s for s in streets]
    head, rows = _rows(wb["汇总"])
    assert head[:3] == ("街道代码", "街道", "网格数")
    by_street = {r[0]: r for r in rows if r[0] != "合计"}
    assert set(by_street) == set(streets)
    for s in streets:
        mine = grids[grids["community_code"].str[:9] == s]
        assert by_street[s][2] == len(mine) and by_street[s][5] == mine["households"].sum()
    total = next(r for r in rows if r[0] == "合计")
    assert total[2] == len(grids) and total[5] == grids["households"].sum()


def test_every_grid_once_with_its_code_as_text(book, grids, plan):
    _, wb = book
    seen = {}
    for name in wb.sheetnames[1:]:
        ws = wb[name]
        head, rows = _rows(ws)
        assert list(head) == ["网格编码", "街道", "社区", "社区代码", "网格类别", "户数", "人口",
                              "面积（平方米）", "网格员", "标记"]  # fmt: skip
        for k, row in enumerate(rows, start=2):
            cell = ws.cell(row=k, column=1)
            assert cell.data_type == "s" and cell.number_format == "@"  # Excel keeps all 19 digits
            assert ws.cell(row=k, column=4).data_type == "s"
            seen[row[0]] = row
    assert set(seen) == set(grids["grid_code"])
    g = grids.set_index("grid_code")
    who = plan.assignments.groupby("grid_code")["name"].apply(set)
    for code, row in seen.items():
        assert len(code) == 19 and row[2] == g.at[code, "community_name"]
        assert row[5] == g.at[code, "households"] and row[6] == g.at[code, "residents"]
        assert all(name in row[8] for name in who[code])


def test_without_staff_no_workers_column(grids, tmp_path):
    wb = load_workbook(write_ledger(grids, tmp_path / "l.xlsx"))
    assert "网格员" not in _rows(wb[wb.sheetnames[1]])[0]


def test_same_grids_same_bytes_and_fixed_times(grids, plan, tmp_path, monkeypatch):
    import time

    a = write_ledger(grids, tmp_path / "a.xlsx", staff=plan).read_bytes()
    time.sleep(1.1)  # zip entries and document times would follow the clock
    b = write_ledger(grids, tmp_path / "b.xlsx", staff=plan).read_bytes()
    assert a == b
    props = load_workbook(tmp_path / "a.xlsx").properties
    assert props.created.year == 2000 and props.modified.year == 2000


def test_grids_untouched_and_bad_layer_refused(grids, tmp_path):
    before = grids.copy()
    write_ledger(grids, tmp_path / "l.xlsx")
    assert_geodataframe_equal(grids, before)
    with pytest.raises(InputError):
        write_ledger(grids.drop(columns="community_code"), tmp_path / "x.xlsx")
