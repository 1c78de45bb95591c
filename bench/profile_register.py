"""Where the wall time of fleet.ecs_anywhere.register goes for 1 and 4 fresh hosts, task by task.

bench_register's goal is wall(4 hosts) <= 2 x wall(1 host). This runs register once per batch size with the
task_cpu callback (bench/callbacks) and splits the margin of that goal over the tasks:

    margin(task) = wall_4(task) - 2 x wall_1(task)          the goal holds when the sum over all tasks is <= 0

Tasks run once for the batch (the AWS checks, the activation, the report) have a negative margin: they take as
long for 4 hosts as for 1. A per-host task costs about 4 x its CPU time / the number of cores in the 4-host run,
but only its wall time in the 1-host run; so a task that keeps more than one core busy for a single host (busy_1 >
wall_1) has a positive margin on a 2-core machine, and a per-host saving in a single-threaded task shortens both
runs alike and hardly moves the ratio.

    .venv/bin/python -m bench.profile_register [--out build/bench/register-profile.json] [--top 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from tests.e2e.conftest import REPO
from tests.e2e.conftest import Fleet
from tests.e2e.conftest import world_down
from tests.e2e.conftest import world_up

SIZES = (1, 4)
GOAL_RATIO = 2


def profile_run(fleet: Fleet, hosts: list[str], out: Path) -> dict:
    os.environ.update(
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / "bench" / "callbacks"),
        ANSIBLE_CALLBACKS_ENABLED="task_cpu",
        TASK_CPU_OUT=str(out),
    )
    run = fleet.run("register", limit=",".join(hosts))
    if run.rc != 0:
        raise SystemExit(f"register failed for {hosts}:\n{run.output[-4000:]}")
    return json.loads(out.read_text())


def by_task(profile: dict) -> dict[str, dict[str, float]]:
    """Sum the rows of each task name (a task of an included file appears once per inclusion)."""
    tasks: dict[str, dict[str, float]] = {}
    for row in profile["tasks"]:
        entry = tasks.setdefault(row["task"], {"wall": 0.0, "busy": 0.0, "containers": 0.0})
        for key in entry:
            entry[key] += row[key]
    return tasks


def split_margin(one: dict, four: dict) -> list[dict]:
    small, large = by_task(one), by_task(four)
    rows = []
    for name in dict.fromkeys([*large, *small]):
        s = small.get(name, {"wall": 0.0, "busy": 0.0, "containers": 0.0})
        b = large.get(name, {"wall": 0.0, "busy": 0.0, "containers": 0.0})
        rows.append(
            {
                "task": name,
                "margin": round(b["wall"] - GOAL_RATIO * s["wall"], 2),
                "wall_1": round(s["wall"], 2),
                "busy_1": round(s["busy"], 2),
                "wall_4": round(b["wall"], 2),
                "busy_4": round(b["busy"], 2),
                "containers_4": round(b["containers"], 2),
            }
        )
    return sorted(rows, key=lambda r: r["margin"], reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="bench-profile")
    parser.add_argument("--out", type=Path, default=Path("build/bench/register-profile.json"))
    parser.add_argument("--top", type=int, default=20, help="tasks to print, largest margin first")
    args = parser.parse_args()
    world = world_up(args.name, hosts=sum(SIZES))
    try:
        workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
        fleet = Fleet(world, workdir, cluster="bench")
        if fleet.run("prerequisites").rc != 0:
            raise SystemExit("prerequisites failed")
        one = profile_run(fleet, world.hosts[:1], workdir / "one.json")
        four = profile_run(fleet, world.hosts[1:5], workdir / "four.json")
    finally:
        world_down(args.name)
    rows = split_margin(one, four)
    totals = {"1": one["total"], "4": four["total"]}
    result = {
        "benchmark": "register profile",
        "cpus": os.cpu_count(),
        "totals": {size: {k: round(v, 1) for k, v in total.items()} for size, total in totals.items()},
        "ratio_4_to_1": round(four["total"]["wall"] / one["total"]["wall"], 2),
        "margin": round(four["total"]["wall"] - GOAL_RATIO * one["total"]["wall"], 1),
        "tasks": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'margin':>7} {'wall_1':>7} {'busy_1':>7} {'wall_4':>7} {'busy_4':>7}  task")
    for row in rows[: args.top]:
        print(
            f"{row['margin']:7.2f} {row['wall_1']:7.2f} {row['busy_1']:7.2f} {row['wall_4']:7.2f} {row['busy_4']:7.2f}"
            f"  {row['task'][:80]}"
        )
    rest = rows[args.top :]
    print(f"{sum(r['margin'] for r in rest):7.2f}  ... the other {len(rest)} tasks")
    print(json.dumps({k: result[k] for k in ("cpus", "totals", "ratio_4_to_1", "margin")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
