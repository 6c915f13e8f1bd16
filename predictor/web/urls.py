from django.contrib.auth import views as auth_views
from django.urls import path

from predictor.web import account, batch, catalog, monitoring, predictions, rollout, training

urlpatterns = [
    path("", catalog.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/token/", account.token_page, name="account-token"),
    path("models/<str:name>/", catalog.model_page, name="model-page"),
    path("models/<str:name>/batch/", batch.batch_page, name="batch-page"),
    path("models/<str:name>/monitoring/", monitoring.monitoring_page, name="monitoring-page"),
    path("models/<str:name>/traffic/", rollout.traffic_page, name="traffic-page"),
    path("models/<str:name>/compare/", rollout.compare_page, name="compare-page"),
    path("models/<str:name>/promote/", rollout.promote_page, name="promote-page"),
    path("batch/<str:request_id>.csv", batch.batch_download, name="batch-download"),
    path("predictions/<int:pk>/", predictions.prediction_page, name="prediction-page"),
    path("history/", predictions.history, name="history"),
    path("train/", training.train_page, name="train-page"),
    path("jobs/", training.jobs_page, name="jobs-page"),
    path("jobs/<int:pk>/", training.job_page, name="job-page"),
]
