"""URLs: the REST API under /api/, the Open Inference Protocol under /v2/, operations
(/healthz, /readyz, /metrics), pages, admin."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from predictor.api import ops
from predictor.api.v2.views import ServerMetadataNoSlash

urlpatterns = [
    # Probes and scrapers ask without a trailing slash; with one is the same answer.
    re_path(r"^healthz/?$", ops.Healthz.as_view(), name="healthz"),
    re_path(r"^readyz/?$", ops.Readyz.as_view(), name="readyz"),
    re_path(r"^metrics/?$", ops.Metrics.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("predictor.api.urls")),
    path("v2", ServerMetadataNoSlash.as_view()),
    path("v2/", include("predictor.api.v2.urls")),
    # Browsers and tools that ask for /favicon.ico get the site's icon, not a 404.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("", include("predictor.web.urls")),
]

handler400 = "predictor.web.errors.error_400"
handler403 = "predictor.web.errors.error_403"
handler404 = "predictor.web.errors.error_404"
handler500 = "predictor.web.errors.error_500"
