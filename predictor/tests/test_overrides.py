"""The performance layer's overrides (mlsite/perf.py): the switch, and for each private
internal of a library that an override relies on, the library behaviour it relies on, so
that an upgrade that changes it fails here rather than in production (bench/RESULTS.md,
"Overrides on trial", says what each one is worth)."""

import inspect

import pytest

from mlsite import perf

from .conftest import redis_on

# --- the switch -----------------------------------------------------------------------------


def test_every_override_is_on_unless_named_off(monkeypatch):
    monkeypatch.delenv(perf.ENV, raising=False)
    assert all(perf.on(name) for name in perf.OVERRIDES)
    monkeypatch.setenv(perf.ENV, " linger, gc_freeze ")
    assert not perf.on("linger") and not perf.on("gc_freeze") and perf.on("redis_throttle")


def test_an_unknown_name_is_an_error_not_a_silent_baseline():
    with pytest.raises(ValueError, match="lingerr"):
        perf.off_names("lingerr")
    with pytest.raises(KeyError):
        perf.on("nothing")


# --- redis_throttle: Django's RedisCache client and the cache proxy ---------------------------


@pytest.fixture
def redis_cache(settings):
    redis_on(settings, 5)
    from django.core.cache import caches

    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


def test_django_redis_cache_exposes_a_client_with_pipelines(redis_cache):
    """`cache._cache.get_client(key, write=True)` is a redis client whose pipeline sets and
    increments the integer Django's `cache.get` reads back; Django's `cache` proxy finds its
    backend in `_connections[_alias]`."""
    import redis
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache

    from predictor.api.throttling import _backend, _redis_count

    backend = _backend(cache)
    assert isinstance(backend, RedisCache)
    assert backend is cache._connections[cache._alias]
    client = backend._cache.get_client(backend.make_and_validate_key("k"), write=True)
    assert isinstance(client, redis.Redis) and callable(client.pipeline)
    assert _redis_count(backend, "pin", 60) == 1
    assert _redis_count(backend, "pin", 60) == 2
    assert backend.get("pin") == 2
    assert 0 < client.ttl(backend.make_and_validate_key("pin")) <= 60


# --- log_prepared: psycopg's prepared-statement hook and Django's cursor wrapper -------------


def test_psycopg_and_django_keep_the_prepared_cursor_hooks():
    """`_PreparingCursor` overrides psycopg's `_send_query_prepared(name, pgq, *, binary)`
    and sets `_query` (which Django's query log reads as the statement); Django wraps a
    cursor with `_prepare_cursor`."""
    import psycopg
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.postgresql import operations
    from psycopg import _cursor_base

    params = inspect.signature(psycopg.Cursor._send_query_prepared).parameters
    assert list(params) == ["self", "name", "pgq", "binary"]
    assert params["binary"].kind is inspect.Parameter.KEYWORD_ONLY
    # psycopg calls the hook for a prepared statement (and sets `_query` only otherwise) ...
    assert "self._send_query_prepared(name, pgq, binary=binary)" in inspect.getsource(_cursor_base)
    # ... and Django's query log reads the statement from `_query`.
    assert "cursor._query.query" in inspect.getsource(operations)
    assert "self._prepare_cursor(" in inspect.getsource(BaseDatabaseWrapper._cursor)
    assert "prepare" in inspect.signature(psycopg.Cursor.execute).parameters


# --- linger: gunicorn's gthread internals ----------------------------------------------------


def test_gunicorn_gthread_keeps_what_the_lingering_worker_reads():
    """The worker counts open connections in `nr_conns`, looks for read-ahead bytes in
    `conn.parser.unreader.buf` (a BytesIO), treats `handle`'s return as keep-alive, and
    finds the response's `force_close` as `start_response.__self__`."""
    import io

    from gunicorn.http import unreader, wsgi
    from gunicorn.workers import gthread

    source = inspect.getsource(gthread.ThreadWorker)
    assert "self.nr_conns += 1" in source and "self.nr_conns -= 1" in source
    # handle() runs in the pool and its result (truthy: keep the connection alive) is read
    # by finish_request on the main thread.
    assert "self.tpool.submit(self.handle, conn)" in source
    assert "result = fs.result()" in source
    assert isinstance(unreader.Unreader().buf, io.BytesIO)
    assert "self.parser = http.get_parser(" in inspect.getsource(gthread.TConn.init)
    assert callable(wsgi.Response.force_close)
    assert inspect.isfunction(wsgi.Response.start_response)  # bound: has __self__
