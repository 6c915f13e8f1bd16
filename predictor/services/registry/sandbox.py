"""The import sandbox: outside model files are opened only in a short-lived child process.

An allow-list of types cannot make hostile values safe (see `audit`), so nothing of an
uploaded model file runs in a process that holds secrets or serves traffic. `sandbox_run`
starts `python -I mlsite/sandbox_main.py`-style child for one import with:

- an environment holding no secret: no `DJANGO_SECRET_KEY`, database URL, log keys,
  tokens — only PATH, a locale, single-threaded maths libraries and the sandbox's own
  Django settings (`mlsite.sandbox_settings`: no database); the request and the file come
  over stdin;
- a fresh temporary working directory (also its HOME and TMPDIR), removed afterwards;
- no inherited file descriptors but stdin, a null stdout and a stderr file in that
  directory; its own session, so a time-out kills everything it started;
- resource limits set before the file is read: address space (`SANDBOX_MEMORY_BYTES`),
  CPU seconds (`SANDBOX_CPU_SECONDS`), size of any file it writes (`SANDBOX_FILE_BYTES`),
  processes (`SANDBOX_MAX_PROCESSES` beyond what the user already runs), and a wall-clock
  time-out (`SANDBOX_TIMEOUT_SECONDS`).

A child that crashes, runs out of time or memory ends the import with that reason; its
answer is JSON only, read from a file of bounded size, and checked here before use.

What it does not do: the child runs as the server's user, so files that user may read and
network addresses it may reach are not walled off by the sandbox itself (the audit refuses
file-reading vectorizers before any prediction; run the service as its own user, with its
secrets only in its environment, to keep them out of the child's reach).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from predictor.services.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[3]
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from mlsite.sandbox_main import main; main()"
# Variables the child may inherit: none is a secret (OpenBLAS' two keep its results right
# on some processors).
PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG")


class SandboxFailed(InvalidInput):
    """The child crashed, ran out of time or memory, or answered nonsense."""


def _environment(workdir: str) -> dict:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LC_ALL": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "mlsite.sandbox_settings",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    env.update({k: os.environ[k] for k in PASSED_THROUGH if k in os.environ})
    return env


def _command() -> list[str]:
    limits = (
        settings.SANDBOX_MEMORY_BYTES,
        settings.SANDBOX_CPU_SECONDS,
        settings.SANDBOX_FILE_BYTES,
        settings.SANDBOX_MAX_PROCESSES,
    )
    return [sys.executable, "-I", "-c", BOOT, str(ROOT), *map(str, limits)]


def _why_it_died(returncode: int, stderr: str) -> str:
    if returncode < 0:
        sig = -returncode
        if sig in (signal.SIGXCPU, signal.SIGKILL) and "MemoryError" not in stderr:
            return (
                f"it was stopped by signal {signal.Signals(sig).name} (the CPU limit is "
                f"{settings.SANDBOX_CPU_SECONDS} s, SANDBOX_CPU_SECONDS)"
            )
        return f"it crashed with signal {signal.Signals(sig).name}"
    if "MemoryError" in stderr or "std::bad_alloc" in stderr or "Cannot allocate" in stderr:
        return f"it ran out of memory (the limit is {settings.SANDBOX_MEMORY_BYTES:,} bytes)"
    return f"it exited with status {returncode} without an answer"


def sandbox_run(*, request: dict, data: bytes) -> dict:
    """Run the import check in a fresh child; its JSON answer, or SandboxFailed."""
    workdir = tempfile.mkdtemp(prefix="mlsite-sandbox-")
    try:
        os.chmod(workdir, 0o700)
        header = json.dumps(request).encode()
        payload = struct.pack(">Q", len(header)) + header + data
        with open(os.path.join(workdir, "stderr.txt"), "wb") as errors:
            child = subprocess.Popen(
                _command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                cwd=workdir,
                env=_environment(workdir),
                close_fds=True,
                start_new_session=True,
            )
            try:
                child.communicate(payload, timeout=settings.SANDBOX_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _kill(child)
                raise SandboxFailed(
                    "the model file was refused: checking it took longer than "
                    f"{settings.SANDBOX_TIMEOUT_SECONDS} s (SANDBOX_TIMEOUT_SECONDS)",
                    field="file",
                ) from None
            except BrokenPipeError:
                child.wait()
        _kill(child)  # anything it left behind in its session
        return _answer(workdir, child.returncode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()


def _answer(workdir: str, returncode: int) -> dict:
    result = Path(workdir, "result.json")
    stderr = Path(workdir, "stderr.txt").read_bytes()[-4000:].decode("utf-8", "replace")
    if returncode != 0 or not result.exists():
        # The child's own output is not shown: it may hold what a hostile file printed.
        raise SandboxFailed(
            f"the model file was refused: the sandbox that checks it failed "
            f"({_why_it_died(returncode, stderr)})",
            field="file",
        )
    if result.stat().st_size > settings.SANDBOX_FILE_BYTES:
        raise SandboxFailed("the model file was refused: the sandbox's answer is too large")
    try:
        answer = json.loads(result.read_bytes())
    except ValueError:
        raise SandboxFailed(
            "the model file was refused: the sandbox's answer is not JSON"
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise SandboxFailed("the model file was refused: the sandbox's answer is malformed")
    return answer


def sandbox_limits() -> dict:
    """The file limits the child applies before it extracts or builds anything."""
    return {
        "max_uncompressed_bytes": settings.SANDBOX_MAX_UNCOMPRESSED_BYTES,
        "max_ratio": settings.SANDBOX_MAX_COMPRESSION_RATIO,
        "max_members": 100_000,
        "max_array_bytes": settings.SANDBOX_MAX_ARRAY_BYTES,
    }
