from rest_framework.routers import DefaultRouter

from predictor.api import views

router = DefaultRouter()
router.register("models", views.RegisteredModelViewSet, basename="model")
router.register(
    r"models/(?P<model_name>[^/]+)/versions", views.ModelVersionViewSet, basename="version"
)
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("training-jobs", views.TrainingJobViewSet, basename="trainingjob")
router.register("predictions", views.PredictionViewSet, basename="prediction")

urlpatterns = router.urls
