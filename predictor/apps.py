from django.apps import AppConfig


class PredictorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "predictor"
    verbose_name = "Model registry"

    def ready(self):
        # Signals only: no database access and no artifact loading here. (Job kinds register
        # themselves when a job of their kind first runs: `services.jobs`.)
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from predictor.models import RegisteredModel
        from predictor.services import audit, jobs
        from predictor.services.log import aggregates
        from predictor.services.serving import registrycache

        jobs.connect_orphan_check()
        # A model's `public` flag decides who is answered: the serving caches must know.
        post_save.connect(
            registrycache.on_model_saved, sender=RegisteredModel, dispatch_uid="registry-gen"
        )
        user_logged_in.connect(audit.on_login, dispatch_uid="mlsite-audit-login")
        user_login_failed.connect(audit.on_login_failed, dispatch_uid="mlsite-audit-login-failed")
        # SQLite adds the hourly aggregates' JSON counts with a Python function.
        connection_created.connect(
            aggregates.register_sqlite_functions, dispatch_uid="mlsite-sqlite-functions"
        )
