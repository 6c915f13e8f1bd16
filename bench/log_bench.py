"""`make bench-log`: the prediction log at 1M and 10M rows on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlsite .venv/bin/python bench/log_bench.py \\
        [--sizes 1000000,10000000] [--out bench/LOG-RESULTS.md]

Seeds rows with SQL (`generate_series`, 30 days, 100 users, three sources) in a database
named after DATABASE_URL's with `_logbench` appended (made anew), fills the hourly
aggregates from them with one SQL statement (what `rebuild_aggregates` computes, minus the
per-feature bins), then, against gunicorn as in production (bench/run.py's workers and
threads), prints with the row count beside each figure: the first page of the history API
(staff; each contract filter; a normal user), page 200 by cursor, the CSV export rate and
the serving process's memory growth, the history page with 30 days of charts, EXPLAIN of
every filter (no sequential scan of the log), and the longest wait of a 16-connection load
while `prune_predictions` removes 1M rows.

The parts: bench/log_data.py (database, users, seeded rows), log_queries.py (the requests
and EXPLAIN), log_prune.py (pruning under load), log_report.py (the file); this file is the
command line.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness as serving  # noqa: E402  (sets the production-like environment)
from bench.log_data import fresh_database, seed, setup_users  # noqa: E402
from bench.log_prune import prune_under_load  # noqa: E402
from bench.log_queries import PORT, explain_all, requests_measure  # noqa: E402
from bench.log_report import report_head, size_section  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--out", default=str(ROOT / "bench" / "LOG-RESULTS.md"))
    parser.add_argument("--no-prune", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    fresh_database()
    staff_token, user_token, session = setup_users()
    staff = {"Authorization": f"Token {staff_token}"}
    user = {"Authorization": f"Token {user_token}"}
    week = time.time() - 7 * 86400
    week_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(week))
    day_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 86400))
    report = report_head()
    already = 0
    for rows in sizes:
        seeded = seed(rows, already)
        already = rows
        print(f"seeded {rows:,} rows in {seeded:.0f} s", flush=True)
        server = serving.Server(
            "logbench",
            serving.gunicorn_args("mlsite.wsgi", PORT, "-c", "python:mlsite.gunicorn_conf"),
            PORT,
        )
        try:
            figures, exports = requests_measure(
                rows, staff, user, session, server, week_iso, day_iso
            )
            prune = None
            if not args.no_prune and rows == sizes[-1] and rows > 1_000_000:
                prune = prune_under_load(staff_token, rows)
                print(f"{rows:>11,} rows  prune 1M under 16-connection load: {prune}", flush=True)
        finally:
            server.stop()
        plans = explain_all()
        for label, seq, index in plans:
            print(
                f"{rows:>11,} rows  EXPLAIN {label:<50} {'SEQ SCAN' if seq else 'index'}: {index}"
            )
        report += size_section(rows, figures, exports, plans, prune)
    Path(args.out).write_text("\n".join(report))
    print(f"wrote {args.out} ({platform.node()})")


if __name__ == "__main__":
    main()
