"""WSGI entry point (gunicorn mlsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlsite.settings")
application = get_wsgi_application()
