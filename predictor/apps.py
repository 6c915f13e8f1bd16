from django.apps import AppConfig


class PredictorConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "predictor"
    verbose_name = "Model registry"

    def ready(self):
        # Only imports and a signal: no database access and no artifact loading here.
        # Importing training registers its job kinds with the runner.
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_save

        from predictor.models import RegisteredModel
        from predictor.services import jobs, training  # noqa: F401
        from predictor.services.log import aggregates
        from predictor.services.serving import (
            batch,  # noqa: F401  (the `batch` job kind)
            versioncache,
        )

        jobs.connect_orphan_check()
        post_save.connect(
            versioncache.on_model_saved, sender=RegisteredModel, dispatch_uid="registry-gen"
        )
        # SQLite adds the hourly aggregates' JSON counts with a Python function.
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from predictor.services import audit

        user_logged_in.connect(audit.on_login, dispatch_uid="mlsite-audit-login")
        user_login_failed.connect(audit.on_login_failed, dispatch_uid="mlsite-audit-login-failed")
        connection_created.connect(
            aggregates.register_sqlite_functions, dispatch_uid="mlsite-sqlite-functions"
        )
