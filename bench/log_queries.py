"""`make bench-log`, the queries: requests against the server and their p50, paging by
cursor, the CSV export's rate and memory, EXPLAIN of every history filter."""

import statistics
import threading
import time
import urllib.request
from urllib.parse import urlencode

from bench import harness as serving
from bench.log_data import DAYS

PORT = 8873


def get(path: str, headers: dict) -> tuple[float, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000.0, body


def p50(path: str, headers: dict, repeat: int = 21) -> float:
    get(path, headers)  # warm
    return statistics.median(get(path, headers)[0] for _ in range(repeat))


def page_200(headers: dict) -> tuple[str, float]:
    import json

    path = "/api/predictions/?page_size=50"
    for _ in range(199):
        _, body = get(path, headers)
        path = json.loads(body)["next"].split(f":{PORT}", 1)[1]
    return path, p50(path, headers)


def export_rate(path: str, headers: dict, server) -> tuple[int, float, float]:
    """(rows, rows/s, growth of the largest worker's RSS in MB)."""
    before = max(server.worker_rss_mb())
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", headers=headers)
    peak, done = [before], threading.Event()

    def watch():  # RSS sampled beside the download, not between its reads
        while not done.wait(0.25):
            peak[0] = max(peak[0], max(server.worker_rss_mb()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    started, lines = time.perf_counter(), 0
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            while chunk := response.read(1 << 20):
                lines += chunk.count(b"\n")
    finally:
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
    return lines - 1, (lines - 1) / seconds, peak[0] - before


def explain_all() -> list[tuple[str, bool, str]]:
    """EXPLAIN of the first page of every contract filter (staff and a normal user)."""
    serving.django_setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from predictor import selectors
    from predictor.filters import PredictionFilter

    User = get_user_model()
    staff, user = User.objects.get(username="bench-staff"), User.objects.get(username="user007")
    week = (timezone.now() - timedelta(days=7)).isoformat()
    day = (timezone.now() - timedelta(days=1)).isoformat()
    cases = [
        ("staff", staff, {}),
        ("staff", staff, {"model": "iris"}),
        ("staff", staff, {"model": "credit-risk"}),
        ("staff", staff, {"model": "iris", "version": "1"}),
        ("staff", staff, {"version": "1"}),
        ("staff", staff, {"source": "web"}),
        ("staff", staff, {"since": week}),
        ("staff", staff, {"since": week, "until": day}),
        ("staff", staff, {"model": "credit-risk", "source": "v2", "since": week}),
        ("user", user, {}),
        ("user", user, {"model": "iris", "since": week}),
        ("user", user, {"model": "credit-risk"}),
        ("user", user, {"source": "batch"}),
    ]
    out = []
    for who, person, query in cases:
        named = {
            k: ("7 days ago" if v == week else "1 day ago" if v == day else v)
            for k, v in query.items()
        }
        qs = PredictionFilter(query, queryset=selectors.predictions_visible_to(person)).qs
        sql_text, params = qs.order_by("-created_at", "-id")[:51].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql_text, params)
            plan = "\n".join(r[0] for r in cursor.fetchall())
        seq = "Seq Scan on predictor_prediction" in plan
        index = next(
            (ln.strip(" ->") for ln in plan.splitlines() if " on predictor_prediction" in ln), ""
        )
        label = " & ".join(f"{k}={v}" for k, v in named.items()) or "(no filter)"
        out.append((f"{who}: {label}", seq, index))
    return out


def requests_measure(rows, staff, user, session, server, week_iso, day_iso):
    """The p50 of each request against `server` with `rows` in the log (printed as they
    come), and the exports' rows, rate and memory growth: (figures, exports)."""
    figures = []

    def measure(label, path, headers, figures=figures, rows=rows):
        value = p50(path, headers)
        figures.append((label, value))
        print(f"{rows:>11,} rows  {label:<58} p50 {value:8.1f} ms", flush=True)

    measure("first page, staff, no filter", "/api/predictions/", staff)
    measure("first page, staff, ?model=iris", "/api/predictions/?model=iris", staff)
    measure(
        "first page, staff, ?model=iris&version=1",
        "/api/predictions/?model=iris&version=1",
        staff,
    )
    measure("first page, staff, ?source=web", "/api/predictions/?source=web", staff)
    measure(
        "first page, staff, ?since=7 days ago",
        "/api/predictions/?" + urlencode({"since": week_iso}),
        staff,
    )
    measure(
        "first page, staff, ?since=7 days&until=1 day ago",
        "/api/predictions/?" + urlencode({"since": week_iso, "until": day_iso}),
        staff,
    )
    measure("first page, normal user, no filter", "/api/predictions/", user)
    measure(
        "first page, normal user, ?model=iris&since=7 days ago",
        "/api/predictions/?" + urlencode({"model": "iris", "since": week_iso}),
        user,
    )
    path, value = page_200(staff)
    figures.append(("page 200 by cursor, staff", value))
    first = figures[0][1]
    print(f"{rows:>11,} rows  {'page 200 by cursor, staff':<58} p50 {value:8.1f} ms "
          f"({value / first:.2f}× the first page)", flush=True)  # fmt: skip
    history = {"Cookie": f"sessionid={session}"}
    measure("history page (staff, 30 days of charts)", "/history/", history)
    measure(
        "history page, ?model=iris",
        "/history/?model=iris",
        history,
    )
    month_iso = time.strftime(
        "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - DAYS * 86400 - 60)
    )
    measure(
        "monitoring, iris, default window (last 24 h)",
        "/api/models/iris/monitoring/",
        staff,
    )
    measure(
        "monitoring, iris, every row (30 days, mid-hour ends)",
        "/api/models/iris/monitoring/?" + urlencode({"since": month_iso, "bucket": "day"}),
        staff,
    )
    exports = []
    for label, path in (
        ("export, staff, last 24 hours, ?model=iris", "/api/predictions/?" + urlencode({"format": "csv", "model": "iris", "since": day_iso})),
        ("export, staff, everything (inputs as JSON)", "/api/predictions/?format=csv"),
    ):  # fmt: skip
        if "everything" in label and rows > 1_000_000:
            path += "&" + urlencode(
                {
                    "since": time.strftime(
                        "%Y-%m-%dT%H:%M:%S+00:00",
                        time.gmtime(time.time() - DAYS * 86400 * 1_000_000 / rows),
                    )
                }
            )
            label = "export, staff, newest 1M rows (inputs as JSON)"
        n, rate, growth = export_rate(path, staff, server)
        exports.append((label, n, rate, growth))
        print(f"{rows:>11,} rows  {label:<58} {n:,} rows at {rate:,.0f} rows/s, "
              f"RSS +{growth:.0f} MB", flush=True)  # fmt: skip
    return figures, exports
