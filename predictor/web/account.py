"""The signed-in person's own API token: shown, created or replaced."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from predictor.services import account_tokens


@login_required
@require_http_methods(["GET", "POST"])
def token_page(request):
    """GET shows the user's token (or that they have none); POST makes a new one, and the
    old key, if any, stops working."""
    if request.method == "POST":
        had = account_tokens.token_of(user=request.user) is not None
        account_tokens.token_replace(user=request.user)
        messages.success(
            request,
            "A new token replaced the old one; the old key no longer works."
            if had
            else "Your API token was created.",
        )
        return redirect("account-token")
    token = account_tokens.token_of(user=request.user)
    return render(request, "predictor/token.html", {"token": token})
