"""The API's rate limit on a Redis cache (CACHE_URL=redis://…, as docs/operations.md runs it in
production): the limit holds, each request costs one round trip to Redis, and the counter
is the cache's own integer, with the window's expiry."""

import pytest
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle

from predictor.models import Prediction

from ..conftest import redis_on

URL = "/api/models/iris/predict/"
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def redis_cache(settings):
    redis_on(settings, 13)
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


@pytest.fixture
def round_trips(monkeypatch):
    """Every command sent to Redis alone, and every pipeline sent (one round trip each)."""
    import redis

    sent = []
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def one(self, *args, **options):
        sent.append(args[0])
        return command(self, *args, **options)

    def many(self, *args, **options):
        sent.append("pipeline: " + " ".join(str(c[0][0]) for c in self.command_stack))
        return pipeline(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", one)
    monkeypatch.setattr(redis.client.Pipeline, "execute", many)
    return sent


def test_on_redis_the_limit_holds_in_one_round_trip_a_request(
    redis_cache, round_trips, iris_version, anon_client, monkeypatch
):
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "100/minute"}
    )
    codes = []
    for _ in range(4):
        before = len(round_trips)
        codes.append(anon_client.post(URL, {"data": [ROW]}, format="json").status_code)
        assert round_trips[before:] == ["pipeline: SET INCRBY"]
    assert codes == [200, 200, 200, 429]
    assert Prediction.objects.count() == 3

    client = redis_cache._cache.get_client(write=True)
    [key] = [k.decode() for k in client.keys("*throttle*")]
    # The counter is what Django's cache API reads (its key without the version prefix).
    assert redis_cache.get(key.removeprefix(":1:")) == 4
    assert 0 < client.ttl(key) <= 61  # the window (a minute) and a second
