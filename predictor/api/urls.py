from django.urls import path
from rest_framework.routers import DefaultRouter

from predictor.api import apikeys, datasets, predictions, registry, tokens, training

router = DefaultRouter()
router.register("models", registry.RegisteredModelViewSet, basename="model")
router.register(
    r"models/(?P<model_name>[^/]+)/versions", registry.ModelVersionViewSet, basename="version"
)
router.register("datasets", datasets.DatasetViewSet, basename="dataset")
router.register("training-jobs", training.TrainingJobViewSet, basename="trainingjob")
router.register("predictions", predictions.PredictionViewSet, basename="prediction")
router.register("api-keys", apikeys.ApiKeyViewSet, basename="apikey")

urlpatterns = router.urls + [
    path("auth/token/", tokens.ObtainToken.as_view(), name="auth-token"),
]
