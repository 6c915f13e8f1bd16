"""The management console: declarative, one module per area; actions call services."""

from django.contrib import admin

from predictor.admin import datasets, jobs, log, registry, rollout  # noqa: F401  (registers them)

admin.site.site_header = "mlsite model management"
admin.site.site_title = "mlsite admin"
