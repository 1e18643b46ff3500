"""The city's speed setting (issue 16): process CPU, CP-SAT calls and total cut at one budget.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_speed_setting.py --budget 0.02 --moves-budget 0.01

Partitions the sample (53 communities) and 205 generated ones at ``--budget`` with
``core.SPEED_MOVE_BUDGET`` set to ``--moves-budget`` (one search move per that much budget), and
prints the total cut, the number of CP-SAT calls and the process CPU time of the partition step.
The cut and the call count are deterministic; the CPU time depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

from gridgeo.partition import _cpsat, _lns, core, partition_district
from gridgeo.synth import city_towns, community_frame, generate_layers, qingdao_sample
from gridgeo.units import build_units
from gridgeo.validate import validate_layers


def main() -> None:
    """Run both sets at one budget and setting; print one Markdown row per set."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=0.02)
    ap.add_argument("--moves-budget", type=float, default=core.SPEED_MOVE_BUDGET)
    args = ap.parse_args()
    core.SPEED_MOVE_BUDGET = args.moves_budget
    calls = [0]
    solve = _cpsat.solve_partition

    def counted(*a, **kw):
        calls[0] += 1
        return solve(*a, **kw)

    # Every caller imported solve_partition by name: count the calls in each module that holds it.
    for mod in (_cpsat, _lns, core):
        if getattr(mod, "solve_partition", None) is solve:
            mod.solve_partition = counted
    sets = {"sample (53)": qingdao_sample(seed=0),
            "generated (205)": generate_layers(community_frame(city_towns(), seed=0).iloc[:205], seed=0, scale=1.0)}  # fmt: skip
    print("| communities | budget | moves budget | grids | total cut (m) | CP-SAT calls | process CPU s |")
    print("|---|---|---|---|---|---|---|")
    for name, layers in sets.items():
        district = validate_layers(layers)
        units = build_units(district)
        calls[0] = 0
        cpu = time.process_time()
        res = partition_district(district, units=units, seed=0, time_limit=args.budget)
        cpu = time.process_time() - cpu
        cut = res.report["objective"].sum()
        print(f"| {name} | {args.budget:g} | {args.moves_budget:g} | {len(res.grids)} | {cut:.0f} | {calls[0]} | {cpu:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
