"""The load: wrk when installed, else bench/loadgen.py; the same figures from either."""

import shutil
import subprocess

from bench.environment import WORK


def load(url, body: bytes, headers: dict, connections: int, seconds: float) -> dict:
    if shutil.which("wrk"):
        return wrk(url, body, headers, connections, seconds)
    from bench import loadgen

    return loadgen.run(url, body, headers, connections, seconds)


def wrk(url, body, headers, connections, seconds) -> dict:
    script = WORK / "post.lua"
    (WORK / "body.json").write_bytes(body)
    lines = [
        'wrk.method = "POST"',
        f'local f = io.open("{WORK / "body.json"}", "rb"); wrk.body = f:read("*a"); f:close()',
    ]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{int(round(seconds))}s",
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

    def ms(label):
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == label:
                value = parts[1]
                for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
                    if value.endswith(unit):
                        return float(value[: -len(unit)]) * factor
        return float("nan")

    requests = int(next(ln for ln in out.splitlines() if " requests in " in ln).split()[0])
    non_2xx = 0
    for line in out.splitlines():
        if "Non-2xx" in line:
            non_2xx = int(line.split()[-1])
    rps = float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")).split()[1])
    return {
        "requests": requests - non_2xx,
        "non_2xx": non_2xx,
        "rps": rps,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
    }
