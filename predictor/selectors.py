"""Read queries shared by the API, the pages and the admin."""

from django.db.models import OuterRef, Q, Subquery

from predictor.models import ModelVersion, Prediction, RegisteredModel, Stage


def models_with_production():
    """All registered models, each annotated with its production version number."""
    production = ModelVersion.objects.filter(model=OuterRef("pk"), stage=Stage.PRODUCTION)
    return RegisteredModel.objects.annotate(
        production_version=Subquery(production.values("version")[:1]),
    )


def models_visible_to(user):
    """Registered models the user may use, each annotated with its production version."""
    qs = models_with_production()
    if not getattr(user, "is_authenticated", False):
        qs = qs.filter(public=True)
    return qs.order_by("name")


def model_may_use(*, user, model: RegisteredModel) -> bool:
    return model.public or getattr(user, "is_authenticated", False)


def predictions_visible_to(user):
    qs = Prediction.objects.select_related("model", "version", "user")
    if getattr(user, "is_staff", False):
        return qs
    return qs.filter(Q(user_id=getattr(user, "pk", None) or -1))
