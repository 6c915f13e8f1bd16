"""Renamed settings: the micro-batcher's (MICROBATCH_*; "batch" names batch files alone)
still honour their old names, with a deprecation warning."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "from django.conf import settings; import json; print(json.dumps([settings.MICROBATCH_MAX_ROWS, settings.MICROBATCH_MAX_WAIT_MS]))"


def _settings(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MICROBATCH_", "BATCH_MAX"))}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "mlsite.settings", **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_old_names_still_work_with_a_warning():
    values, stderr = _settings(BATCH_MAX_ROWS_PER_CALL="7", BATCH_MAX_WAIT_MS="3.5")
    assert values == [7, 3.5]
    assert "BATCH_MAX_ROWS_PER_CALL is deprecated: use MICROBATCH_MAX_ROWS" in stderr
    assert "BATCH_MAX_WAIT_MS is deprecated: use MICROBATCH_MAX_WAIT_MS" in stderr


def test_the_new_names_win_and_warn_of_nothing():
    values, stderr = _settings(MICROBATCH_MAX_ROWS="9", BATCH_MAX_ROWS_PER_CALL="7")
    assert values == [9, 2.0]
    assert "deprecated" not in stderr
