"""A WSGI application for the tests of mlsite/gunicorn_worker.py: it answers each request
with its own path and the client's port (which connection carried it)."""


def app(environ, start_response):
    body = f"{environ['PATH_INFO']} {environ.get('REMOTE_PORT', '')}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
