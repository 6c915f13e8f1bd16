"""`make bench`: the service as the README runs it in production, beside plain Flask and raw
in-process predict, under the same load generator; one table of figures.

    .venv/bin/python bench/run.py [--seconds 8] [--only serve,...,floor] [--out bench/RESULTS.md]
    .venv/bin/python bench/run.py --overrides [all|name,...] [--rounds 6] [--seconds 3]

On SQLite by default (a throw-away file); on PostgreSQL when DATABASE_URL says so (a
database named after it with `_bench` appended, dropped and made anew; the one you name is
not touched). wrk is used when installed, else bench/loadgen.py.

The parts, one concern a module: bench/environment.py (settings, database, machine),
servers.py (gunicorn), load.py (wrk or loadgen.py), serving.py (the serving table), the
sections *_bench.py, and harness.py (what the sections are handed); this file is the
command line.
"""

import argparse
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import harness  # noqa: E402 (the project's root is on the path first)
from bench.environment import ENV, WORK, django_setup, machine, prepare_database  # noqa: E402
from bench.servers import FLASK_THREADS, THREADS, WORKERS  # noqa: E402
from bench.serving import serve_bench, serve_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="a run; 8 s, 3 s with --overrides")
    parser.add_argument("--only", default="serve,demo,shadow,job,worker,floor")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument(
        "--overrides",
        nargs="?",
        const="all",
        help="only the overrides on trial (mlsite/perf.py), each switched off alone, and the "
        "threads a worker (all, or a comma-separated list of names and 'threads'); their "
        "section of --out is replaced, the rest kept",
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of --overrides")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = float(os.environ.get("BENCH_SECONDS", 3 if args.overrides else 8))
    parts = set(args.only.split(","))
    print(f"mlsite bench on {machine()}; work dir {WORK}", flush=True)
    prepare_database()
    django_setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("bench", password=os.urandom(8).hex())
    token = Token.objects.create(user=user).key
    if args.overrides:
        from bench.overrides_bench import names_for, overrides_bench, splice

        postgresql = ENV["DATABASE_URL"].startswith("postgres")
        names = names_for(args.overrides, postgresql)
        section = overrides_bench(args.seconds, token, harness, args.rounds, names)
        stamp = time.strftime("%Y-%m-%d %H:%M")
        key = f"overrides on trial, {'PostgreSQL' if postgresql else 'SQLite'}"
        splice(Path(args.out), f"{section}\nRun on {stamp}; machine: {machine()}.\n", key)
        print(f"written to {args.out}")
        shutil.rmtree(WORK, ignore_errors=True)
        return
    sections = [
        f"# Benchmark results\n\nMachine: {machine()}.\n"
        f"Service: gunicorn {WORKERS} workers × {THREADS} threads, production settings "
        f"(README), every prediction logged; Flask: {WORKERS} workers × {FLASK_THREADS} "
        'threads (8 made it no faster overall, see "Threads per worker"), the same worker class, '
        f"no logging, no validation, no token. {args.seconds:g} s per run.\n"
    ]
    if "serve" in parts:
        results, rss = serve_bench(args.seconds, token)
        table = serve_table(results, rss)
        print(table)
        sections.append("## Serving\n\n" + table + "\n")
    if "demo" in parts:
        from bench.demo_bench import demo_bench

        table = demo_bench(args.seconds, token, harness)
        sections.append(
            "## Every demo model, one row, one connection\n\n(On PostgreSQL, after `VACUUM (ANALYZE)` of the log the runs above filled.)\n\n"
            + table
            + "\n"
        )
    if "shadow" in parts:
        from bench.shadow_bench import shadow_bench

        table = shadow_bench(args.seconds, token, harness)
        sections.append(
            "## A shadow version's cost\n\niris, one row a request; the shadow (k-nearest "
            "neighbours) predicts the same rows in a background thread of each worker after "
            "the answer is logged.\n\n" + table + "\n"
        )
    if "job" in parts:
        from bench.job_bench import job_bench

        table = job_bench(args.seconds, token, harness)
        sections.append(
            "## Serving while a job trains\n\niris, one row a request, before and while a "
            "random forest of 2,000 trees (5-fold) trains in `manage.py run_worker` beside the "
            "server on the same 2 cores.\n\n" + table + "\n"
        )
    for part in ("worker", "floor"):  # sections that write their own heading and text
        if part in parts:
            section = getattr(importlib.import_module(f"bench.{part}_bench"), f"{part}_bench")
            sections.append(section(args.seconds, token, harness))
    Path(args.out).write_text("\n".join(sections))
    print(f"written to {args.out}")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
