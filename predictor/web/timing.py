"""THE timing of a prediction request, for every door (REST, V2, the form, the batch
page): counted and timed by the status it is answered with, whatever refused it (auth,
parsing, routing, the model)."""

import functools

from django.http import Http404

from predictor.services import metrics


def prediction_timed(source: str, *, methods=None):
    """A view decorator: time the view's requests (`methods`: only these, e.g. a page's
    POSTs) under `source`, labelled with the model named in the URL."""

    def wrap(view):
        @functools.wraps(view)
        def timed_view(request, *args, **kwargs):
            if methods is not None and request.method not in methods:
                return view(request, *args, **kwargs)
            name = kwargs.get("name") or kwargs.get("model_name") or (args[0] if args else "")
            with metrics.prediction_request_timed(source=source, model_name=name) as timer:
                try:
                    response = view(request, *args, **kwargs)
                except Http404:
                    timer.code = 404  # a page's own 404, before Django answers it
                    raise
                timer.code = response.status_code
            return response

        return timed_view

    return wrap
