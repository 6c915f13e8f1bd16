"""Entry point of the import sandbox's child process (started by
`predictor.services.registry.sandbox`, never by hand).

In order: resource limits (before anything of the file is read), Django on
`mlsite.sandbox_settings` (no database, no secrets), then the request from stdin and the
work of `predictor.services.registry.sandboxed`. The answer is one JSON document written to
`result.json` in the working directory (a file, so the file-size limit bounds it too).
"""

import json
import os
import resource
import struct
import sys


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))


def _tasks_of_this_user() -> int:
    """Threads and processes this user runs now (RLIMIT_NPROC counts them all)."""
    uid, count = os.getuid(), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


def limits(*, memory: int, cpu: int, file_size: int, processes: int) -> None:
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_FSIZE, file_size)
    _limit(resource.RLIMIT_CORE, 0)
    # Counted per user: what already runs, plus what the child may start.
    _limit(resource.RLIMIT_NPROC, _tasks_of_this_user() + processes)


def _read_request() -> tuple[dict, bytes]:
    stream = sys.stdin.buffer
    (size,) = struct.unpack(">Q", stream.read(8))
    request = json.loads(stream.read(size))
    return request, stream.read()


def main() -> None:
    memory, cpu, file_size, processes = (int(v) for v in sys.argv[2:6])
    limits(memory=memory, cpu=cpu, file_size=file_size, processes=processes)
    request, data = _read_request()
    try:
        import django

        django.setup()
        from predictor.services.registry import sandboxed

        answer = sandboxed.run(request, data)
    except MemoryError:
        answer = {
            "ok": False,
            "reason": "the model file was refused: checking it ran out of memory "
            f"(the limit is {memory:,} bytes, SANDBOX_MEMORY_BYTES)",
        }
    with open("result.json", "w", encoding="utf-8") as out:
        json.dump(answer, out)


if __name__ == "__main__":
    main()
