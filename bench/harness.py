"""What every section of `make bench` uses, in one namespace (`h` in bench/*_bench.py): the
environment, the servers, the load generator and the serving benchmark's bodies and checks.
Importing it sets the bench's environment (bench/environment.py) before Django is set up."""

from bench.environment import (
    ENV,
    ROOT,
    WORK,
    django_setup,
    machine,
    manage,
    prepare_database,
)
from bench.load import load, wrk
from bench.servers import (
    FLASK_PORT,
    FLASK_THREADS,
    SERVICE_PORT,
    THREADS,
    WORKER_CLASS,
    WORKERS,
    Server,
    gunicorn_args,
)
from bench.serving import (
    CASES,
    CREDIT_ROW,
    IRIS_ROW,
    bodies,
    export_for_flask,
    logged_rows,
    raw_predict,
    serve_bench,
    serve_table,
    warm_up,
)

__all__ = [
    "CASES",
    "CREDIT_ROW",
    "ENV",
    "FLASK_PORT",
    "FLASK_THREADS",
    "IRIS_ROW",
    "ROOT",
    "SERVICE_PORT",
    "THREADS",
    "WORK",
    "WORKERS",
    "WORKER_CLASS",
    "Server",
    "bodies",
    "django_setup",
    "export_for_flask",
    "gunicorn_args",
    "load",
    "logged_rows",
    "machine",
    "manage",
    "prepare_database",
    "raw_predict",
    "serve_bench",
    "serve_table",
    "warm_up",
    "wrk",
]
