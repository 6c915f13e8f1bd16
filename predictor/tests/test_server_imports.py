"""A server process that serves compiled models does not load the training libraries."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy", "pandas", "skl2onnx", "onnx")

PROBE = f"""
import json, sys
import mlsite.wsgi
from django.urls import get_resolver
get_resolver().url_patterns  # every door, as the first request loads them
from predictor.services.serving import inference, runtime  # the hot path
from predictor.services import training
training.ALGORITHMS  # the forms list the algorithms
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))
"""


def test_the_wsgi_application_and_its_urls_load_no_training_library():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlsite.settings"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_a_training_function_is_there_when_asked_for():
    from predictor.services import training

    assert callable(training.train_now) and callable(training.training_request_validate)
    assert training.run.train_now is training.train_now  # a submodule by attribute too


FREEZE = """
import gc, json, sys
import mlsite.wsgi
from mlsite import gunicorn_conf
before = "predictor.api.urls" in sys.modules
gunicorn_conf.post_worker_init(None)
print(json.dumps([before, "predictor.api.urls" in sys.modules, gc.get_freeze_count()]))
"""


def test_a_worker_puts_what_it_loaded_out_of_the_collectors_reach():
    """gunicorn's post_worker_init loads every door, then freezes the heap: the collector
    never scans the modules again (a 1,000-row request made it scan all of them)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mlsite.settings"}
    done = subprocess.run(
        [sys.executable, "-c", FREEZE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    before, after, frozen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (before, after) == (False, True)
    assert frozen > 50_000  # Django, DRF, numpy, ONNX Runtime and the project's own objects
