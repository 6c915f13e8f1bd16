from django.urls import path

from predictor.api.v2 import views as v2

urlpatterns = [
    path("", v2.ServerMetadata.as_view(), name="v2-server"),
    path("health/live", v2.ServerLive.as_view(), name="v2-live"),
    path("health/ready", v2.ServerReady.as_view(), name="v2-ready"),
    path("models/<str:name>", v2.ModelMetadata.as_view(), name="v2-model"),
    path("models/<str:name>/ready", v2.ModelReady.as_view(), name="v2-model-ready"),
    path("models/<str:name>/infer", v2.ModelInfer.as_view(), name="v2-infer"),
    path("models/<str:name>/versions/<int:version>", v2.ModelMetadata.as_view(), name="v2-version"),
    path(
        "models/<str:name>/versions/<int:version>/ready",
        v2.ModelReady.as_view(),
        name="v2-version-ready",
    ),
    path(
        "models/<str:name>/versions/<int:version>/infer",
        v2.ModelInfer.as_view(),
        name="v2-version-infer",
    ),
]
