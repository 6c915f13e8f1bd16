from django.contrib.auth import views as auth_views
from django.urls import path

from predictor import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("models/<str:name>/", views.model_page, name="model-page"),
    path("models/<str:name>/batch/", views.batch_page, name="batch-page"),
    path("batch/<str:request_id>.csv", views.batch_download, name="batch-download"),
    path("predictions/<int:pk>/", views.prediction_page, name="prediction-page"),
    path("history/", views.history, name="history"),
    path("train/", views.train_page, name="train-page"),
    path("jobs/<int:pk>/", views.job_page, name="job-page"),
]
