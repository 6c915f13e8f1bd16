"""The site's middleware, one concern a module (their order is `settings.MIDDLEWARE`):

- `error_pages`: the site's own 404/500 pages in debug mode too;
- `guard`: hostile paths, the request id, the API's body cap, a database outage → 503;
- `uploads`: each upload door's cap, before anything reads the body;
- `messages`: Django's message middleware, its storage made on first use;
- `csp`: django-csp's middleware, its usual header built once.

How an error becomes an answer (JSON or a page) is `predictor.web.responses`.
"""
