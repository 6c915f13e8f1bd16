"""How each version's inputs differ from production's, for the model page's promote form
(from the versions already on the page: no query)."""

from django import template

from predictor.models import Stage
from predictor.services.schema.changes import schema_change

register = template.Library()


@register.filter
def inputs_changes(versions) -> list[dict]:
    """[{"version", "production", "words"}] for each version whose inputs differ."""
    versions = list(versions or [])
    production = next((v for v in versions if v.stage == Stage.PRODUCTION), None)
    if production is None:
        return []
    found = []
    for v in versions:
        change = v.pk != production.pk and schema_change(old=production.schema, new=v.schema)
        if change:
            found.append(
                {"version": v.version, "production": production.version, "words": change.words()}
            )
    return found
