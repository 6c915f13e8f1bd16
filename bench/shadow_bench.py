"""`make bench`, part two: what a shadow version costs the requests it shadows.

`h` is the harness (bench/run.py: its server, load generator and request bodies)."""

import time


def shadow_bench(seconds: float, token: str, h) -> str:
    """The cost of a shadow version: iris single rows with no policy, then with a second
    iris version (k-nearest neighbours) as a shadow; the shadow rows logged."""
    from predictor.models import Dataset, Prediction, RegisteredModel
    from predictor.services.serving import traffic
    from predictor.services.training import train_now

    model = RegisteredModel.objects.get(name="iris")
    dataset = Dataset.objects.get(name="iris")
    job = train_now(dataset=dataset, model_name="iris", algorithm="knn", cv=0)
    shadow_number = job.version.version
    service = h.Server(
        "service-shadow",
        h.gunicorn_args("mlsite.wsgi", h.SERVICE_PORT, "-c", "python:mlsite.gunicorn_conf"),
        h.SERVICE_PORT,
    )
    body, _ = h.bodies("iris", 1)
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    lines = [
        "| policy | connections | req/s | p50 ms | p99 ms | shadow rows logged / answered |",
        "|---|---|---|---|---|---|",
    ]
    try:
        h.warm_up(token)
        for label, shadows in (
            ("production only", []),
            (f"v{shadow_number} as a shadow", [shadow_number]),
        ):
            traffic.policy_set(model=model, routes=[], shadows=shadows, reason="bench")
            time.sleep(1.2)  # every worker follows within a second
            for connections in (1, 16):
                before = Prediction.objects.filter(source="shadow").count()
                ours = h.load(
                    f"http://127.0.0.1:{h.SERVICE_PORT}/api/models/iris/predict/",
                    body, headers, connections, seconds,
                )  # fmt: skip
                time.sleep(1.0)  # the shadow queue drains
                logged = Prediction.objects.filter(source="shadow").count() - before
                lines.append(
                    f"| {label} | {connections} | {ours['rps']:.0f} | {ours['p50_ms']:.2f} "
                    f"| {ours['p99_ms']:.2f} | {logged} / {ours['requests'] if shadows else 0} |"
                )
                print(lines[-1], flush=True)
        traffic.policy_set(model=model, routes=[], shadows=[], reason="bench done")
    finally:
        service.stop()
    return "\n".join(lines)
