"""In development mode (`make run`) too, a missing page or a crash shows the site's own
404 and 500 pages, not Django's technical ones (the console still has the traceback)."""

from django.conf import settings

from predictor.web.errors import error_404, error_500
from predictor.web.responses import SITE_PAGE, is_api


class DebugErrorPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code in (404, 500)
            and not response.has_header(SITE_PAGE)
            and response.get("Content-Type", "").startswith("text/html")
            and not is_api(request.path_info)
        ):
            return error_404(request) if response.status_code == 404 else error_500(request)
        return response
