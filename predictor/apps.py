from django.apps import AppConfig


class PredictorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "predictor"
    verbose_name = "Model registry"

    def ready(self):
        # Only connects a signal: no database access and no artifact loading here.
        from predictor.services import jobs

        jobs.connect_orphan_check()
