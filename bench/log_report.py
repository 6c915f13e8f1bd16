"""`make bench-log`, the report: bench/LOG-RESULTS.md's heading and one section a size."""

from bench import harness as serving
from bench.log_data import DAYS, USERS


def report_head() -> list[str]:
    return [
        "# The prediction log at scale (`make bench-log`)",
        "",
        f"Machine: {serving.machine()}",
        f"PostgreSQL, gunicorn {serving.WORKERS} workers × {serving.THREADS} threads, "
        f"production settings; rows spread over {DAYS} days, {USERS} users. p50 of 21 requests.",
        "",
    ]


def size_section(rows, figures, exports, plans, prune) -> list[str]:
    """The tables of one size: requests, exports, EXPLAIN plans, and pruning under load."""
    report = []
    report += [
        f"## {rows:,} rows",
        "",
        "| request | rows in the log | p50 |",
        "|---|---:|---:|",
    ]
    report += [f"| {label} | {rows:,} | {value:.1f} ms |" for label, value in figures]
    report += ["", "| export | rows exported | rows/s | RSS growth |", "|---|---:|---:|---:|"]
    report += [f"| {lb} | {n:,} | {rate:,.0f} | {g:.0f} MB |" for lb, n, rate, g in exports]
    report += ["", "| EXPLAIN of the first page | plan |", "|---|---|"]
    report += [f"| {lb} | {'**sequential scan**' if seq else ix} |" for lb, seq, ix in plans]
    if prune:
        report += [
            "",
            f"Pruning 1,000,000 rows took {prune['prune_seconds']:.1f} s "
            f"({' '.join(prune['prune_output'])}) while wrk sent single predictions on 16 "
            f"connections: {prune['rps']:.0f} req/s, p99 {prune['p99_ms']:.0f} ms, longest "
            f"wait {prune['max_ms']:.0f} ms, {prune['non_2xx']} non-2xx.",
        ]
    report.append("")
    return report
