from rest_framework.routers import DefaultRouter

from predictor.api import datasets, predictions, registry, training

router = DefaultRouter()
router.register("models", registry.RegisteredModelViewSet, basename="model")
router.register(
    r"models/(?P<model_name>[^/]+)/versions", registry.ModelVersionViewSet, basename="version"
)
router.register("datasets", datasets.DatasetViewSet, basename="dataset")
router.register("training-jobs", training.TrainingJobViewSet, basename="trainingjob")
router.register("predictions", predictions.PredictionViewSet, basename="prediction")

urlpatterns = router.urls
