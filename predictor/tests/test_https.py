"""Production settings seen from outside: HTTPS redirect, HSTS, secure cookies, CSP, the
proxy header, and `check --deploy` clean with the production environment of docs/operations.md. Each
case runs Django in a fresh process with that environment (settings are read at start)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
c = Client()
out = {}
r = c.get("/")
out["plain"] = [r.status_code, r.get("Location", "")]
out["healthz"] = c.get("/healthz").status_code
r = c.get("/login/", secure=True)
out["hsts"] = r.get("Strict-Transport-Security", "")
out["csp"] = r.get("Content-Security-Policy", "")
out["csrf_cookie_secure"] = bool(r.cookies["csrftoken"]["secure"]) if "csrftoken" in r.cookies else None
r = c.get("/login/", HTTP_X_FORWARDED_PROTO="https")
out["forwarded"] = r.status_code
print(json.dumps(out))
"""


def production(tmp_path, **extra) -> dict:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "testserver,ml.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_SETTINGS_MODULE": "mlsite.settings",
    }
    env.pop("DJANGO_SECURE_SSL_REDIRECT", None)
    env.update(extra)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_redirects_to_https_with_hsts_secure_cookies_and_csp(tmp_path):
    seen = production(tmp_path)
    assert seen["plain"] == [301, "https://testserver/"]
    assert seen["healthz"] == 200  # load balancers probe over plain HTTP
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csrf_cookie_secure"] is True
    assert "script-src 'self'" in seen["csp"] and "frame-ancestors 'none'" in seen["csp"]
    script_src = next(d for d in seen["csp"].split(";") if "script-src" in d)
    assert "unsafe-inline" not in script_src
    assert seen["forwarded"] == 301  # X-Forwarded-Proto is not trusted by default


def test_behind_a_proxy_the_forwarded_scheme_is_trusted(tmp_path):
    seen = production(tmp_path, DJANGO_BEHIND_PROXY="true")
    assert seen["forwarded"] == 200


def test_plain_http_mode_for_benchmarks_and_ci(tmp_path):
    seen = production(tmp_path, DJANGO_SECURE_SSL_REDIRECT="false")
    assert seen["plain"][0] == 200 and seen["hsts"] == ""


def test_check_deploy_is_clean_with_the_readme_environment(tmp_path):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "k" * 50 + "-Zq9",
        "DJANGO_ALLOWED_HOSTS": "ml.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    env.pop("DJANGO_SECURE_SSL_REDIRECT", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests set it; production does not
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
