"""The answer to a login refused by the login limit (`services.logins`): the login page
with the reason for people, JSON for API clients; 429 with Retry-After either way."""

from django.contrib.auth.forms import AuthenticationForm
from django.http import JsonResponse
from django.shortcuts import render

from predictor.services import logins


def lockout_response(request, original_response=None, credentials=None):
    text = logins.message(request=request)
    retry = str(logins.cool_off_seconds(request=request))
    if request.path.startswith(("/api/", "/v2/")):
        response = JsonResponse({"detail": text}, status=429)
    else:
        form = AuthenticationForm(request)
        form.errors["__all__"] = form.error_class([text])
        template = "admin/login.html" if request.path.startswith("/admin/") else None
        context = {"form": form, "next": request.POST.get("next", ""), "locked_out": True}
        if template:
            from django.contrib import admin

            context.update(admin.site.each_context(request), app_path=request.get_full_path())
        response = render(request, template or "registration/login.html", context, status=429)
    response["Retry-After"] = retry
    return response
