from rest_framework.routers import DefaultRouter

from predictor.api import apikeys, datasets, predictions, registry, training

router = DefaultRouter()
router.register("models", registry.RegisteredModelViewSet, basename="model")
router.register(
    r"models/(?P<model_name>[^/]+)/versions", registry.ModelVersionViewSet, basename="version"
)
router.register("datasets", datasets.DatasetViewSet, basename="dataset")
router.register("training-jobs", training.TrainingJobViewSet, basename="trainingjob")
router.register("predictions", predictions.PredictionViewSet, basename="prediction")
router.register("api-keys", apikeys.ApiKeyViewSet, basename="apikey")

# The prediction routes are tried first: they are most of the traffic, and no other route
# matches their paths, so the order changes what is found for none.
_HOT = {"model-predict", "version-predict"}
urlpatterns = sorted(router.urls, key=lambda pattern: pattern.name not in _HOT)
