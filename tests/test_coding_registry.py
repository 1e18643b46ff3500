"""The grid-code registry: issue, retire, lineage, re-coding, no reuse, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from gridgeo.coding import CodeRegistry, CodeScheme, parse_code, validate_code
from gridgeo.coding.scheme import SCHEMES
from gridgeo.errors import CodeError, RegistryError

COMM = "370203026004"


@pytest.fixture
def reg(tmp_path):
    with CodeRegistry(tmp_path / "codes.sqlite") as r:
        yield r


def test_issue_is_monotonic_and_valid(reg):
    a = reg.issue(COMM, date="2024-01-01")
    b = reg.issue(COMM, date="2024-01-01")
    d = reg.issue(COMM, grid_class="dedicated", date="2024-01-01")
    assert (a, b, d) == ("3702030260041001000", "3702030260041002000", "3702030260042001000")
    assert all(validate_code(c) == [] for c in (a, b, d))
    rec = reg.record(a)
    assert (rec.status, rec.valid_from, rec.valid_to, rec.community_code) == (
        "active",
        "2024-01-01",
        None,
        COMM,
    )
    assert reg.high_water(COMM) == 2 and reg.high_water(COMM, "dedicated") == 1


def test_retired_code_is_never_issued_again(reg):
    a = reg.issue(COMM)
    b = reg.issue(COMM)
    reg.retire(b, date="2030-01-01")
    c = reg.issue(COMM)
    assert c not in (a, b)
    assert parse_code(c).serial == 3
    assert reg.record(b).status == "retired" and reg.record(b).valid_to == "2030-01-01"
    with pytest.raises(RegistryError, match="retired"):
        reg.retire(b)


def test_geometry_snapshot_and_crs_are_kept(reg):
    code = reg.issue(COMM, geometry=box(0, 0, 10, 10), crs="EPSG:4547", grid_id="g1")
    rec = reg.record(code)
    assert rec.crs == "EPSG:4547" and rec.grid_id == "g1"
    assert rec.geometry.equals(box(0, 0, 10, 10))
    snaps = reg.snapshots()
    assert list(snaps["code"]) == [code] and snaps.crs.to_epsg() == 4547


def test_split_lineage(reg):
    old = reg.issue(COMM, geometry=box(0, 0, 2, 1), crs="EPSG:4547", date="2024-01-01")
    new = reg.split(old, [box(0, 0, 1, 1), box(1, 0, 2, 1)], date="2025-01-01")
    assert len(new) == 2 and old not in new
    assert reg.record(old).status == "retired"
    lin = reg.lineage(old)
    assert set(zip(lin["old_code"], lin["new_code"], lin["reason"], strict=True)) == {
        (old, new[0], "split"),
        (old, new[1], "split"),
    }
    hist = reg.history(new[0]).set_index("code")
    assert hist.loc[old, "replaced_by"] == [f"{new[0]} (split)", f"{new[1]} (split)"]
    assert hist.loc[new[0], "replaces"] == [f"{old} (split)"]
    assert hist.loc[new[0], "valid_from"] == "2025-01-01"


def test_merge_lineage(reg):
    a = reg.issue(COMM, geometry=box(0, 0, 1, 1), crs="EPSG:4547", date="2024-01-01")
    b = reg.issue(COMM, geometry=box(1, 0, 2, 1), crs="EPSG:4547", date="2024-01-01")
    m = reg.merge([a, b], date="2025-06-01")
    assert reg.record(m).geometry.area == pytest.approx(2.0)
    lin = reg.lineage(m)
    assert sorted(zip(lin["old_code"], lin["reason"], strict=True)) == [(a, "merge"), (b, "merge")]
    assert {reg.record(a).status, reg.record(b).status} == {"retired"}


def test_merge_across_communities_is_refused(reg):
    a = reg.issue(COMM)
    b = reg.issue("370203026005")
    with pytest.raises(CodeError, match="R2"):
        reg.merge([a, b])
    assert reg.record(a).status == "active"


def test_boundary_change_gives_a_new_code(reg):
    a = reg.issue(COMM, geometry=box(0, 0, 1, 1), crs="EPSG:4547")
    b = reg.change_boundary(a, box(0, 0, 1.5, 1))
    assert b != a and reg.lineage(a)["reason"].tolist() == ["boundary_change"]


def test_failed_replacement_leaves_registry_unchanged(reg):
    a = reg.issue(COMM)
    with pytest.raises(CodeError):
        reg.split(a, [box(0, 0, 1, 1)])
    assert reg.record(a).status == "active"


def test_jimo_community_recoded(reg):
    old_comm, new_comm = "370282100201", "370215100201"
    a = reg.issue(old_comm, date="2016-01-01")
    b = reg.issue(old_comm, date="2016-01-01")
    c = reg.issue(old_comm, grid_class="dedicated", date="2016-01-01")
    reg.retire(a, date="2016-06-01")
    mapping = reg.recode_community(old_comm, new_comm, date="2017-10-01")
    assert set(mapping) == {b, c}  # the retired code stays retired
    assert mapping[b] == "3702151002011002000"  # serial kept, always a new code
    assert mapping[c] == "3702151002012001000"
    assert reg.lineage(b)["reason"].tolist() == ["community_recoded"]
    assert reg.record(b).status == "retired"
    assert reg.issue(new_comm) == "3702151002011003000"  # high-water mark follows


def test_recode_takes_next_serial_when_the_kept_one_was_issued(reg):
    old_comm, new_comm = "370282100201", "370215100201"
    reg.issue(new_comm)  # serial 1 already used in the new community
    a = reg.issue(old_comm)
    assert parse_code(reg.recode_community(old_comm, new_comm)[a]).serial == 2


def test_registry_keeps_one_scheme(tmp_path):
    path = tmp_path / "r.sqlite"
    CodeRegistry(path).close()
    with pytest.raises(RegistryError, match="scheme"):
        CodeRegistry(path, scheme="beijing-db11")
    with CodeRegistry(path) as r:
        assert r.scheme.name == "gridgeo-19"


def test_not_a_registry(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(RegistryError):
        CodeRegistry(path)


def test_serials_exhausted(tmp_path):
    with CodeRegistry(tmp_path / "r.sqlite", scheme=_tiny_scheme()) as r:
        for _ in range(9):
            r.issue(COMM)
        with pytest.raises(CodeError, match="every serial"):
            r.issue(COMM)


def _tiny_scheme(width: int = 1) -> CodeScheme:
    """The default layout with a narrow serial (1–9 or 1–99), to reach exhaustion quickly."""
    d = SCHEMES["gridgeo-19"].to_dict()
    for f in d["fields"]:
        if f["role"] == "serial":
            f.update(width=width, minimum=1, maximum=10**width - 1)
    d["name"] = "tiny"
    return CodeScheme.from_dict(d)


COMMUNITIES = ["370203026004", "370203026005", "370282100201", "370211001001"]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), retire_share=st.floats(0.05, 0.6))
def test_no_reuse_after_random_retire_issue_cycles(seed, retire_share):
    # Hypothesis picks the seed and the mix; 1,000 cycles are drawn from it (drawing
    # 1,000-element lists through Hypothesis itself costs ~10 s per example).
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        with CodeRegistry(Path(tmp) / "r.sqlite", scheme=_tiny_scheme(2)) as reg:
            ever: set[str] = set()
            retired: set[str] = set()
            active: list[str] = []
            for _ in range(1000):
                if rng.random() < retire_share and active:
                    code = active.pop(int(rng.integers(len(active))))
                    reg.retire(code)
                    retired.add(code)
                    continue
                comm = COMMUNITIES[int(rng.integers(len(COMMUNITIES)))]
                cls = "community" if rng.random() < 0.5 else "dedicated"
                try:
                    code = reg.issue(comm, grid_class=cls)
                except CodeError:
                    # only when this community and class used all 99 serials
                    assert reg.high_water(comm, cls) == 99
                    continue
                assert code not in ever, f"{code} issued twice"
                ever.add(code)
                active.append(code)
            df = reg.codes()
            assert df["code"].is_unique and set(df["code"]) == ever
            assert set(df.loc[df["status"] == "retired", "code"]) == retired
            assert set(df.loc[df["status"] == "active", "code"]) == set(active)


def _issue_worker(path: str, n: int, start, out) -> None:
    start.wait()
    with CodeRegistry(path, timeout=60) as reg:
        out.put([reg.issue(COMM) for _ in range(n)])


def test_two_processes_never_issue_the_same_code(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    CodeRegistry(path).close()
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    n = 150
    procs = [ctx.Process(target=_issue_worker, args=(path, n, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    codes = results[0] + results[1]
    assert len(codes) == len(set(codes)) == 2 * n
    assert sorted(parse_code(c).serial for c in codes) == list(range(1, 2 * n + 1))
    con = sqlite3.connect(path)
    assert con.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == 2 * n
    assert con.execute("SELECT high_water FROM serials").fetchone()[0] == 2 * n
    con.close()


# -- damaged files, read-only use, deferred commit (issue 17) ---------------------------------


def _filled(path: Path, n: int = 40) -> list[str]:
    with CodeRegistry(path) as r:
        return [r.issue(COMM, date="2024-01-01", geometry=box(0, 0, i + 1, 1), crs="EPSG:4549")
                for i in range(n)]  # fmt: skip


def test_empty_registry_file_is_an_error_not_a_fresh_start(tmp_path):
    path = tmp_path / "registry.sqlite"
    path.write_bytes(b"")
    with pytest.raises(RegistryError, match="empty") as info:
        CodeRegistry(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b""  # nothing was created in it


def test_damaged_pages_are_a_registry_error_naming_the_file(tmp_path):
    path = tmp_path / "registry.sqlite"
    _filled(path, 200)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    for at in range(2 * page, len(data), page):  # scribble over every page after the second
        data[at + 8 : at + 200] = b"\xff" * 192
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(RegistryError) as info:
        with CodeRegistry(path) as r:
            r.issue(COMM)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_a_sqlite_file_that_is_not_a_registry_is_left_untouched(tmp_path):
    path = tmp_path / "input.gpkg"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE gpkg_contents (table_name TEXT)")
    con.commit()
    con.close()
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(RegistryError, match="not a gridgeo code registry"):
            CodeRegistry(path, read_only=read_only)
    assert path.read_bytes() == before


def test_read_only_registry_never_creates_or_writes(tmp_path):
    missing = tmp_path / "none.sqlite"
    with pytest.raises(RegistryError, match="not found"):
        CodeRegistry(missing, read_only=True)
    assert not missing.exists()
    path = tmp_path / "registry.sqlite"
    codes = _filled(path, 3)
    before = path.read_bytes()
    with CodeRegistry(path, read_only=True) as r:
        assert r.record(codes[0]).status == "active"
        assert len(r.history(codes[1])) == 1
        with pytest.raises(RegistryError, match="read-only"):
            r.issue(COMM)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.sqlite"]


def test_deferred_commit_makes_codes_visible_only_on_commit(tmp_path):
    path = tmp_path / "registry.sqlite"
    first = _filled(path, 2)
    with CodeRegistry(path, autocommit=False) as r:
        new = r.issue(COMM, date="2024-02-01")
        r.retire(first[0], date="2024-02-01")
        with pytest.raises(CodeError):
            r.issue("12345")  # a failed write is undone alone; the transaction goes on
        assert new in r and r.record(first[0]).status == "retired"
        with CodeRegistry(path, read_only=True, timeout=1) as other:  # others see the old state
            assert new not in other and other.record(first[0]).status == "active"
        # leaving without commit() (an output failed to write) discards everything
    with CodeRegistry(path) as r:
        assert new not in r and r.record(first[0]).status == "active"
        assert r.high_water(COMM) == 2
    with CodeRegistry(path, autocommit=False) as r:
        new = r.issue(COMM, date="2024-02-01")
        r.commit()
    with CodeRegistry(path, read_only=True) as r:
        assert new in r and r.high_water(COMM) == 3


def test_deferred_commit_on_a_new_file_leaves_an_empty_registry(tmp_path):
    path = tmp_path / "registry.sqlite"
    with CodeRegistry(path, autocommit=False) as r:
        r.issue(COMM)
    with CodeRegistry(path) as r:  # an empty, usable registry: not a 0-byte file
        assert len(r.codes()) == 0
