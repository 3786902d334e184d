"""Process start: what loading the code location costs each run worker and step process.

Each round starts a fresh interpreter that runs ``import lomba_pipeline.definitions; defs()``
and reports its own wall and CPU time for that, and its peak RSS; the parent also times the
whole process (interpreter start included). Figures are medians of the rounds. Then one
``python -X importtime`` run of the same lines lists the modules that cost most (cumulative,
i.e. with what they import).

    .venv/bin/python bench/startup.py [--rounds 5] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD = "import lomba_pipeline.definitions as d; d.defs()"
MEASURED = f"""
import json, resource, time
wall, cpu = time.perf_counter(), time.process_time()
{LOAD}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(json.dumps({{"wall": wall, "cpu": cpu, "rss_mib": rss}}))
"""


def one_round() -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED], cwd=ROOT, capture_output=True, text=True, check=True
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall"] = time.perf_counter() - start
    return figures


def import_times() -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of every import, costliest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", LOAD],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), int(own), name))
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    rounds = [one_round() for _ in range(args.rounds)]

    def median(key):
        return statistics.median(r[key] for r in rounds)

    print(f"code location load ({LOAD!r}), fresh process, {args.rounds} rounds (median)")
    print(
        f"  import + defs(): wall {median('wall'):.2f} s, CPU {median('cpu'):.2f} s, "
        f"peak RSS {median('rss_mib'):.0f} MiB; whole process {median('process_wall'):.2f} s "
        "(goal: under 2 s wall)"
    )
    walls = ", ".join(f"{r['wall']:.2f}" for r in rounds)
    print(f"  rounds (wall s): {walls}")
    rows = import_times()
    for title, ordered in (
        ("cumulative time (with what they import)", rows),
        ("self time", sorted(rows, key=lambda row: row[1], reverse=True)),
    ):
        print(f"python -X importtime, top {args.top} by {title}:")
        print(f"  {'cumulative':>11s} {'self':>9s}  module")
        for cumulative, own, name in ordered[: args.top]:
            print(f"  {cumulative / 1000:9.0f}ms {own / 1000:7.0f}ms  {name}")


if __name__ == "__main__":
    main()
