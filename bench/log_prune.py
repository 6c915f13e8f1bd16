"""`make bench-log`, pruning under load: `prune_predictions` removes 1M rows while wrk
sends single predictions; the longest wait."""

import os
import subprocess
import sys
import threading
import time

from bench import harness as serving
from bench.log_data import URL, sql
from bench.log_queries import PORT

ROOT = serving.ROOT


def prune_under_load(token: str, rows: int) -> dict:
    """Prune the oldest 1M rows while wrk sends 16 connections of single predictions."""
    # Whole days back to the millionth-oldest row: pruning them removes at least 1M rows.
    age = sql(
        "SELECT extract(epoch FROM now() - created_at) FROM predictor_prediction "
        "ORDER BY created_at OFFSET 1000000 LIMIT 1",
        fetch=True,
    )[0][0]
    cutoff_days = int(float(age) // 86400)
    body = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    result = {}

    def load():
        result.update(
            wrk_with_max(f"http://127.0.0.1:{PORT}/api/models/iris/predict/", body, headers, 40)
        )

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(3)
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "manage.py", "prune_predictions", "--older-than", str(cutoff_days)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": URL},
    )
    result["prune_seconds"] = time.perf_counter() - started
    result["prune_output"] = (out.stdout + out.stderr).strip().splitlines()[-1:]
    thread.join()
    return result


def wrk_with_max(url, body, headers, seconds) -> dict:
    script = serving.WORK / "prune.lua"
    (serving.WORK / "prune.json").write_bytes(body)
    lines = [
        'wrk.method = "POST"',
        f'local f = io.open("{serving.WORK / "prune.json"}", "rb"); wrk.body = f:read("*a"); f:close()',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    text = subprocess.run(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(value):
        for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
            if value.endswith(unit):
                return float(value[: -len(unit)]) * factor
        return float("nan")

    latency = next(ln for ln in text.splitlines() if ln.strip().startswith("Latency")).split()
    non_2xx = sum(int(ln.split()[-1]) for ln in text.splitlines() if "Non-2xx" in ln)
    rps = float(next(ln for ln in text.splitlines() if ln.startswith("Requests/sec")).split()[1])
    p99 = next(ln for ln in text.splitlines() if ln.strip().startswith("99%")).split()[1]
    return {"max_ms": ms(latency[3]), "p99_ms": ms(p99), "rps": rps, "non_2xx": non_2xx}
