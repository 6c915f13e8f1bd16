"""The servers under test: gunicorn as the README runs it, started in a session of its own
and stopped with it; the RSS of its workers."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.environment import ROOT, WORK
from mlsite import gunicorn_conf

SERVICE_PORT, FLASK_PORT = 8871, 8872
WORKERS, THREADS = 2, gunicorn_conf.threads  # the service as the README runs it
WORKER_CLASS = gunicorn_conf.worker_class  # Flask's server is the service's
FLASK_THREADS = 4  # 8 made Flask no faster overall (bench/worker_bench.py)


class Server:
    def __init__(self, name, args, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=open(WORK / f"{name}.log", "w"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{name} did not start; see {WORK / (name + '.log')}")

    def worker_rss_mb(self) -> list[float]:
        children = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout.split()
        sizes = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


def gunicorn_args(app, port, *extra, threads=THREADS):
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *extra,
    ]
