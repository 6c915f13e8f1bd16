"""The bench's environment: production settings on a throw-away work directory and database
(SQLite, or PostgreSQL when DATABASE_URL says so), set in os.environ on import, before
Django is."""

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="mlsite-bench-"))


def bench_database_url() -> str:
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{WORK / 'bench.sqlite3'}"
    parts = urlsplit(given)
    name = parts.path.lstrip("/") or "mlsite"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-" + os.urandom(24).hex(),
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DATABASE_URL": bench_database_url(),
    "MEDIA_ROOT": str(WORK / "media"),
    "THROTTLE_ANON": "100000000/minute",
    "THROTTLE_USER": "100000000/minute",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlsite.settings")


def prepare_database() -> None:
    url = ENV["DATABASE_URL"]
    if url.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        name = parts.path.lstrip("/")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0")
    manage("load_demo", quiet=True)
    if (ROOT / "predictor/management/commands/compile_models.py").exists():
        manage("compile_models", quiet=True)


def manage(*args, quiet=False):
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def django_setup():
    import django

    django.setup()


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, "
        f"Python {platform.python_version()}, "
        f"{'PostgreSQL' if ENV['DATABASE_URL'].startswith('postgres') else 'SQLite'}, "
        f"load generator: {'wrk' if shutil.which('wrk') else 'bench/loadgen.py'}"
    )
