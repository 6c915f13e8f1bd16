"""`make bench BENCH_ARGS=--overrides`: each framework override (mlsite/perf.py) measured
alone against the code without it, and the threads a worker, in the same run.

One server with every override on (the baseline) and one per override switched off
(`MLSITE_PERF_OFF=<name>`), one with 4 threads instead of gunicorn_conf's; all up at once
and loaded in alternation, baseline, A off, baseline, B off, ..., baseline, so that each
"off" run has a baseline run on either side of it, and the rounds repeat with the order
rotated. The machine's speed drifts within minutes and another process may share its two
cores: the baseline's own run-to-run spread says which differences are noise.

`h` is the harness (bench/harness.py: its servers, load generator and request bodies).
"""

import os
import statistics
import subprocess
import time
from pathlib import Path

from mlsite import perf

PORT = 8891  # the first of as many as there are servers
CONNECTIONS = 16  # the main bench's middle concurrency (bench/serving.py)
BASELINE = ("", None)  # (MLSITE_PERF_OFF, threads; None: gunicorn_conf's)
# Overrides whose case is a large request are measured at 1,000 rows a request as well.
LARGE = ("gc_freeze", "orjson_parse", "orjson_render")


# Only on PostgreSQL (SQLite has no prepared statements): measured in a run of its own, as
# each server keeps two connections a thread (12 servers would need 384; the default
# max_connections is 100).
POSTGRESQL_ONLY = ("log_prepared",)


def plan(names, threads_alt: int) -> dict[int, list[tuple[str, tuple[str, int | None]]]]:
    """rows a request → the comparisons made at that size: (label, server). `names`: the
    overrides (mlsite/perf.py) and "threads" (gunicorn_conf's threads against `threads_alt`)."""
    one_row = [(name, (name, None)) for name in perf.OVERRIDES if name in names]
    if "threads" in names:
        one_row.append((f"threads {threads_alt} (instead of the conf's)", ("", threads_alt)))
    large = [(name, (name, None)) for name in LARGE if name in names]
    return {rows: group for rows, group in ((1, one_row), (1000, large)) if group}


def names_for(asked: str, postgresql: bool) -> list[str]:
    """The comparisons `--overrides` asks for: "all" is every override the database has
    (with "threads"), else a comma-separated list."""
    if asked != "all":
        names = [n.strip() for n in asked.split(",") if n.strip()]
        perf.off_names(",".join(n for n in names if n != "threads"))  # unknown names fail
        return names
    names = [*perf.OVERRIDES, "threads"]
    return names if postgresql else [n for n in names if n not in POSTGRESQL_ONLY]


def overrides_bench(seconds: float, token: str, h, rounds: int = 5, names=()) -> str:
    """The section of bench/RESULTS.md: heading, what was run, the tables."""
    threads_alt = 4 if h.THREADS != 4 else 8
    comparisons = plan(names, threads_alt)
    servers = [BASELINE] + sorted({s for group in comparisons.values() for _, s in group})
    ports = {server: PORT + i for i, server in enumerate(servers)}
    started = []
    try:
        for (off, threads), port in ports.items():
            args = h.gunicorn_args(
                "mlsite.wsgi",
                port,
                "-c",
                "python:mlsite.gunicorn_conf",
                threads=threads or h.THREADS,
            )
            env = {"MLSITE_PERF_OFF": off, "PROMETHEUS_MULTIPROC_DIR": ""}
            started.append(h.Server(f"perf-{port}", args, port, env=env))
        for port in ports.values():  # every thread of every worker loads iris first
            for rows in comparisons:
                h.load(*_request(h, token, port, rows), CONNECTIONS, 1.5)
        runs = {rows: [] for rows in comparisons}  # rows → per round: [(server, result)]
        for round_ in range(rounds):
            for rows, group in comparisons.items():
                shift = round_ % len(group)
                order = group[shift:] + group[:shift]
                sequence = [BASELINE]
                for _, server in order:
                    sequence += [server, BASELINE]
                done = []
                for server in sequence:
                    workers = _workers(started[servers.index(server)])
                    before = _cpu_seconds(workers)
                    result = h.load(*_request(h, token, ports[server], rows), CONNECTIONS, seconds)
                    spent = _cpu_seconds(workers) - before
                    result["cpu_ms"] = 1000.0 * spent / max(result["requests"], 1)
                    done.append((server, result))
                    print(
                        f"round {round_ + 1}/{rounds} rows={rows} "
                        f"{server[0] or ('threads=' + str(server[1]) if server[1] else 'baseline')}"
                        f": {result['rps']:.0f} req/s p50 {result['p50_ms']:.2f} ms"
                        f" CPU {result['cpu_ms']:.3f} ms/request"
                        f" non-2xx {result['non_2xx']}",
                        flush=True,
                    )
                    time.sleep(0.3)
                runs[rows].append(done)
    finally:
        for server in started:
            server.stop()
    database = "PostgreSQL" if h.ENV["DATABASE_URL"].startswith("postgres") else "SQLite"
    lines = [
        f"### On {database}: {', '.join(names)}\n",
        f"iris, a request of one row (and 1,000 rows for {', '.join(LARGE)}), "
        f"{CONNECTIONS} connections, gunicorn {h.WORKERS} workers × {h.THREADS} threads "
        f"unless the row says otherwise; {len(servers)} servers up at once, loaded in "
        f"alternation (baseline, one override off, baseline, ...), {rounds} rounds of "
        f"{seconds:g} s a run. `on`: the baseline runs either side of each `off` run. "
        "CPU: what the server's worker processes spent (user + system, from /proc) per "
        "request answered; it moves far less than req/s when other processes share the "
        "cores. Beyond noise: the median off/on ratio is further from 1 than twice the "
        "baseline's own spread (the standard deviation of the ratio of consecutive "
        "baseline runs, divided by the square root of the rounds), and all rounds but at "
        "most one agree on its direction.\n",
    ]
    for rows, group in comparisons.items():
        table, rps_spread, cpu_spread = _table(runs[rows], group, rounds)
        lines.append(
            f"{rows} row{'s' if rows > 1 else ''} a request; the baseline's run-to-run "
            f"spread (one run against the next): ±{rps_spread * 100:.1f}% in req/s, "
            f"±{cpu_spread * 100:.1f}% in CPU per request.\n"
        )
        lines.append(table + "\n")
    text = "\n".join(lines)
    print(text)
    return text


def _workers(server) -> list[str]:
    return subprocess.run(
        ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True
    ).stdout.split()


def _cpu_seconds(pids: list[str]) -> float:
    """User and system CPU time of the processes, in seconds (from /proc)."""
    tick, spent = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        spent += int(fields[11]) + int(fields[12])
    return spent / tick


def _request(h, token, port, rows):
    body, _ = h.bodies("iris", rows)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Token {token}",
        "X-Request-ID": "bench-overrides",
    }
    return f"http://127.0.0.1:{port}/api/models/iris/predict/", body, headers


def _noise(rounds_runs, key) -> float:
    """The baseline's own spread: the standard deviation of one baseline run against the
    next (with one "off" run between them), as a fraction."""
    steps = []
    for done in rounds_runs:
        base = [r[key] for s, r in done if s == BASELINE]
        steps += [b / a - 1 for a, b in zip(base, base[1:])]
    return statistics.stdev(steps) if len(steps) > 1 else float("nan")


def _verdict(ratios, spread, rounds, worse_below: bool) -> str:
    ratio = statistics.median(ratios)
    agree = max(sum(r < 1 for r in ratios), sum(r > 1 for r in ratios))
    if abs(ratio - 1) <= 2 * spread / rounds**0.5 or agree < len(ratios) - 1:
        return "no"
    return "yes, " + ("worse" if (ratio < 1) == worse_below else "better") + " off"


def _table(rounds_runs, group, rounds) -> tuple[str, float, float]:
    rps_spread, cpu_spread = _noise(rounds_runs, "rps"), _noise(rounds_runs, "cpu_ms")
    lines = [
        "| switched off | req/s on | req/s off | req/s off/on: median (each round) "
        "| beyond noise | CPU ms/request on | off | CPU off/on: median (each round) "
        "| beyond noise | p50 ms on / off | p99 ms on / off |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, server in group:
        on, off, rps, cpu = [], [], [], []
        for done in rounds_runs:
            i = next(i for i, (s, _) in enumerate(done) if s == server)
            neighbours = [done[i - 1][1], done[i + 1][1]]
            on += neighbours
            off.append(done[i][1])
            for ratios, key in ((rps, "rps"), (cpu, "cpu_ms")):
                ratios.append(done[i][1][key] / statistics.mean(r[key] for r in neighbours))

        def med(runs, key):
            return statistics.median(r[key] for r in runs)

        def each(ratios):
            return f"{statistics.median(ratios):.3f} ({', '.join(f'{r:.2f}' for r in ratios)})"

        lines.append(
            f"| {label} | {med(on, 'rps'):.0f} | {med(off, 'rps'):.0f} | {each(rps)} "
            f"| {_verdict(rps, rps_spread, rounds, worse_below=True)} "
            f"| {med(on, 'cpu_ms'):.3f} | {med(off, 'cpu_ms'):.3f} | {each(cpu)} "
            f"| {_verdict(cpu, cpu_spread, rounds, worse_below=False)} "
            f"| {med(on, 'p50_ms'):.2f} / {med(off, 'p50_ms'):.2f} "
            f"| {med(on, 'p99_ms'):.2f} / {med(off, 'p99_ms'):.2f} |"
        )
    return "\n".join(lines), rps_spread, cpu_spread


def splice(path, section: str, key: str = "overrides on trial") -> None:
    """The section in the results file, in place of its previous one of the same `key` (or
    after the file's opening paragraphs); everything else in the file is kept."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{start}\n{section.strip()}\n{end}\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1].lstrip("\n")
    elif "\n## " in text:
        head, tail = text.split("\n## ", 1)
        text = f"{head}\n{block}\n## {tail}"
    else:
        text = f"{text.rstrip()}\n\n{block}"
    path.write_text(text)
