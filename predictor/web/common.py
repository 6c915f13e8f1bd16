"""What the page views share: who may open a staff or a manager's page, which model and version a page
shows, and how a service's refusal becomes a form error."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404

from predictor import selectors
from predictor.services import access
from predictor.services.errors import (
    Conflict,
    InvalidInput,
    LoginRequired,
    NotFound,
    ServiceError,
)
from predictor.services.serving import routing


def page_check(request, check, **kwargs):
    """An `access` rule for a page: a visitor is sent to the login page (the response
    returned), anyone else it refuses gets a 403 with the rule's words; None when allowed."""
    try:
        check(user=request.user, **kwargs)
    except LoginRequired:
        return redirect_to_login(request.get_full_path())
    except ServiceError as exc:
        raise PermissionDenied(exc.message) from None
    return None


def page_rule(check, *, writes=None, **kwargs):
    """A view decorator: `check` (an `access` rule) for every request, and `writes` as well
    for a POST."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kw):
            refused = page_check(request, check, **kwargs)
            if refused is None and writes is not None and request.method == "POST":
                refused = page_check(request, writes)
            return refused or view(request, *args, **kw)

        return wrapper

    return decorator


manager_required = page_rule(access.manage_check)


def staff_reads_managers_write(what: str):
    """Staff read the page; every POST on it is managing."""
    return page_rule(access.staff_check, writes=access.manage_check, what=what)


def strip_row(message: str) -> str:
    return message.removeprefix("row 1: ")


def service_error_to_form(form, exc: ServiceError) -> None:
    field = exc.details.get("feature") or exc.details.get("field")
    form.add_error(field if field in form.fields else None, strip_row(exc.message))


def usable_model(request, name):
    """The model (with its production number) if the user may use it; 404 / None (log in)."""
    try:
        return selectors.model_usable(name=name, user=request.user)
    except NotFound:
        raise Http404 from None
    except LoginRequired:
        return None


def page_version(request, name, versions):
    """The version a page works with: the one asked for, production, else the newest one
    this user may be served; 404 for a version that is missing or not theirs to use."""
    wanted = request.POST.get("version") or request.GET.get("version")
    try:
        return routing.version_for(model_name=name, user=request.user, version=wanted)
    except (NotFound, InvalidInput):
        raise Http404 from None
    except Conflict:
        servable = [v for v in versions if access.version_may_serve(user=request.user, version=v)]
        return servable[0] if servable else None
