"""Process start: what loading the code location costs each run worker and step process.

Each round starts a fresh interpreter that runs ``import lomba_pipeline.definitions; defs()``
and reports its own wall and CPU time for that, and its peak RSS; the parent also times the
whole process (interpreter start included). Figures are medians of the rounds, measured twice
side by side in alternating order: with the default (local) object store, and with R2
configured (placeholder ``LOMBA_R2_*`` values; nothing is contacted at load), where dagster-aws
must load to build the resource. Then one ``python -X importtime`` run of the default load lists
the modules that cost most (cumulative, i.e. with what they import), whether each heavy package
(boto3/dagster-aws, the AI SDKs, instagrapi, crawlee, Pillow/imagehash) loads at all, and what
the Instagram operations domain (``lomba_pipeline.ig_ops``) costs.

    .venv/bin/python bench/startup.py [--rounds 5] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import os
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
R2_ENV = {
    "LOMBA_R2_ENDPOINT_URL": "https://account.r2.cloudflarestorage.com",
    "LOMBA_R2_ACCESS_KEY_ID": "placeholder", "LOMBA_R2_SECRET_ACCESS_KEY": "placeholder",
    "LOMBA_R2_BUCKET": "posters", "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
}
HEAVY = {
    "dagster-aws / boto3": ("dagster_aws", "boto3"),
    "Zhipu SDK": ("zhipuai",),
    "Mistral SDK": ("mistralai",),
    "Google GenAI SDK": ("google.genai",),
    "instagrapi": ("instagrapi",),
    "crawlee": ("crawlee",),
    "Pillow / imagehash": ("PIL", "imagehash"),
}


def one_round(env: dict) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED], cwd=ROOT, capture_output=True, text=True, check=True,
        env=env,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall"] = time.perf_counter() - start
    return figures


def import_times() -> list[tuple[int, int, int, str]]:
    """(cumulative us, self us, depth, module) of every import, in the order Python reports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", LOAD],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((int(cumulative), int(own), depth, name.strip()))
    return rows


def importer_of(rows, index: int) -> str:
    """The module whose import pulled in ``rows[index]`` (importtime prints children first)."""
    depth = rows[index][2]
    for _, _, d, name in rows[index + 1:]:
        if d < depth:
            return name
    return "(top level)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    variants = {"local store": dict(os.environ), "R2 configured": {**os.environ, **R2_ENV}}
    rounds: dict[str, list[dict]] = {name: [] for name in variants}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            rounds[name].append(one_round(variants[name]))

    print(f"code location load ({LOAD!r}), fresh process, {args.rounds} alternating rounds "
          "(median; goal: under 2 s wall)")
    for name, figures in rounds.items():
        def median(key, figures=figures):
            return statistics.median(r[key] for r in figures)

        walls = ", ".join(f"{r['wall']:.2f}" for r in figures)
        print(f"  {name:14s} import + defs(): wall {median('wall'):.2f} s, CPU "
              f"{median('cpu'):.2f} s, peak RSS {median('rss_mib'):.0f} MiB; whole process "
              f"{median('process_wall'):.2f} s  (rounds: {walls})")

    rows = import_times()
    ordered = sorted(rows, reverse=True)
    for title, listing in (
        ("cumulative time (with what they import)", ordered),
        ("self time", sorted(rows, key=lambda row: row[1], reverse=True)),
    ):
        print(f"python -X importtime, top {args.top} by {title}:")
        print(f"  {'cumulative':>11s} {'self':>9s}  module")
        for cumulative, own, _, name in listing[: args.top]:
            print(f"  {cumulative / 1000:9.0f}ms {own / 1000:7.0f}ms  {name}")

    print("heavy packages at code-location load (local store):")
    position = {name: i for i, (_, _, _, name) in enumerate(rows)}
    for label, modules in HEAVY.items():
        loaded = [m for m in modules if m in position]
        if not loaded:
            print(f"  {label:20s} not imported")
            continue
        m = loaded[0]
        i = position[m]
        print(f"  {label:20s} imported: {m} {rows[i][0] / 1000:.0f} ms cumulative, "
              f"by {importer_of(rows, i)}")

    outermost = [row for i, row in enumerate(rows)
                 if row[3].startswith("lomba_pipeline.ig_ops")
                 and not importer_of(rows, i).startswith("lomba_pipeline.ig_ops")]
    total = sum(row[0] for row in outermost)
    print(f"lomba_pipeline.ig_ops at load: {total / 1000:.0f} ms cumulative over "
          f"{len(outermost)} outermost imports: "
          + ", ".join(f"{name} {c / 1000:.0f} ms" for c, _, _, name in
                      sorted(outermost, reverse=True)[:6]))


if __name__ == "__main__":
    main()
