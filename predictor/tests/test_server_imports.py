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
