"""Review benchmark (issue 19), run by hand; figures go to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_review.py

Targets: a move is checked (and made, or refused with its reason) in at most 100 ms, and a
rebalance of one community of 5,000 households returns in at most 2 s.

One generated urban community (阜新路街道's first, seed 0, scaled to about 5,900 households)
is partitioned by :func:`gridgeo.pipeline.run` into a temporary folder and opened with
:func:`gridgeo.edit.open_review`. Every (inhabited or not) unit on a grid boundary is tried
against every grid it touches: each try is one :meth:`~gridgeo.edit.Review.move` (then undone
when made), timed alone. The rebalance is timed three times: the community as the run left
it, after a move put two grids out of balance, and with one grid locked. The page's state
after an edit (what the server sends back: grids dissolved, counts, checks) is timed as well.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import write_section  # noqa: E402

from gridgeo import edit, pipeline  # noqa: E402
from gridgeo.options import PartitionOptions  # noqa: E402
from gridgeo.review import ReviewServer  # noqa: E402
from gridgeo.testing import make_district  # noqa: E402

SCALE = 2.2
OPTIONS = PartitionOptions.of(time_limit=0.5, seed=0)


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def bench_moves(review: edit.Review) -> dict:
    """Time every boundary move of the community's grids."""
    times, made, refused = [], 0, 0
    grids = review.table().query("grid_class == 'community'")["grid_id"]
    for gid in grids:
        for unit in review.members(gid):
            for target in review.unit_targets(unit):
                out, s = _timed(lambda u=unit, t=target: review.move(unit_ids=[u], to_grid=t))
                times.append(s)
                if out.ok:
                    made += 1
                    review.undo()
                else:
                    refused += 1
    times.sort()
    return {"tries": len(times), "made": made, "refused": refused, "median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))], "max_ms": 1000 * times[-1]}  # fmt: skip


def bench_rebalance(review: edit.Review, community: str) -> list[dict]:
    """Time three rebalances of the community: as run, after an unbalancing move, with a lock."""
    rows = []

    def one(label: str) -> None:
        out, s = _timed(lambda: review.rebalance(community))
        t = review.table().query("grid_class == 'community'")
        rows.append({"case": label, "s": s, "ok": out.ok, "moved": len(out.moved), "grids": len(t),
                     "in_band": f"{int(t['in_band'].sum())}/{len(t)}", "reasons": "; ".join(out.reasons)[:120]})  # fmt: skip

    one("as the run left it")
    grids = list(review.table().query("grid_class == 'community'")["grid_id"])
    moved = False
    for gid in grids:
        for unit in sorted(review.members(gid), key=lambda u: -review._counts["households"][u]):
            for target in review.unit_targets(unit):
                if review.move(unit_ids=[unit], to_grid=target).ok:
                    moved = True
                    break
            if moved:
                break
        if moved:
            break
    one("after a move of the heaviest movable unit")
    review.lock(grids[0])
    one(f"with {grids[0]} locked")
    return rows


def main() -> None:
    district = make_district(0, n_communities=1, scale=SCALE)
    community = str(district.communities["community_code"].iloc[0])
    households = int(district.buildings["households"].sum())
    with tempfile.TemporaryDirectory() as tmp:
        run, run_s = _timed(lambda: pipeline.run(district, tmp, options=OPTIONS, date="2026-01-01"))
        review, open_s = _timed(lambda: edit.open_review(tmp, district, options=OPTIONS))
        n_units = len(review.units.units)
        n_grids = len(run.grids)
        moves = bench_moves(review)
        server = ReviewServer(review, by="bench")
        _, state_s = _timed(server.state)
        rebalances = bench_rebalance(review, community)
        _, state2_s = _timed(server.state)
    lines = [
        f"One community ({community}, generated, scale {SCALE}): {households:,} households, {n_units} units, "
        f"{n_grids} grids; run into a folder {run_s:.1f} s, opened for review {open_s:.2f} s (units rebuilt "
        "from the inputs). Wall times on a shared 2-core machine (other engineers' jobs running): read the "
        "counts as upper bounds of an idle machine's.",
        "",
        f"Moves: {moves['tries']} tries ({moves['made']} made and undone, {moves['refused']} refused with a "
        f"reason); each checked in median {moves['median_ms']:.2f} ms, 95th percentile {moves['p95_ms']:.2f} ms, "
        f"max {moves['max_ms']:.2f} ms (target ≤ 100 ms).",
        "",
        "| rebalance | s | done | units moved | community grids | in band | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rebalances:
        lines.append(f"| {r['case']} | {r['s']:.2f} | {r['ok']} | {r['moved']} | {r['grids']} | {r['in_band']} | "
                     f"{r['reasons'] or ''} |")  # fmt: skip
    lines += [
        "",
        f"Target ≤ 2 s per rebalance (CP-SAT deterministic budget {OPTIONS.time_limit}, one worker, seed 0). "
        f"The page's state after an edit (grids dissolved, counts and checks, as JSON) took {state_s * 1000:.0f} ms "
        f"fresh and {state2_s * 1000:.0f} ms after the rebalances (unchanged grids' shapes cached).",
    ]
    body = "\n".join(lines)
    print(body)
    write_section("Review: move check and rebalance (issue 19)", body)


if __name__ == "__main__":
    main()
