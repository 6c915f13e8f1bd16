"""gunicorn settings for mlsite: `gunicorn mlsite.wsgi -c python:mlsite.gunicorn_conf`.

Command-line flags (--bind, --workers, --threads) still apply on top of these.
"""

# gunicorn answers an over-long request line itself, with an HTML page. Let it through
# (its parser still caps a line at 1 MiB) so the service answers a JSON 414 instead.
limit_request_line = 0
