"""URLs: the REST API under /api/, the Open Inference Protocol under /v2/, pages, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from predictor.api.v2 import ServerMetadataNoSlash

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("predictor.api.urls")),
    path("v2", ServerMetadataNoSlash.as_view()),
    path("v2/", include("predictor.api.v2_urls")),
    path("", include("predictor.urls")),
]

handler400 = "predictor.views.error_400"
handler403 = "predictor.views.error_403"
handler404 = "predictor.views.error_404"
handler500 = "predictor.views.error_500"
