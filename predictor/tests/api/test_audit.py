"""The security audit trail, from outside: logins, keys, and someone probing."""

from prometheus_client.parser import text_string_to_metric_families

from predictor.models import SecurityEvent
from predictor.tests.conftest import client_for

Kind = SecurityEvent.Kind


def events(kind):
    return list(SecurityEvent.objects.filter(kind=kind))


def test_logins_and_failed_logins_are_recorded(client, alice):
    client.post("/login/", {"username": "alice", "password": "wrong"})
    client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    failed, ok = events(Kind.LOGIN_FAILED), events(Kind.LOGIN)
    assert [(e.username, e.client) for e in failed] == [("alice", "127.0.0.1")]
    assert [e.username for e in ok] == ["alice"]


def test_api_keys_made_and_revoked_are_recorded(db, staff_client):
    made = staff_client.post("/api/api-keys/", {"name": "ci"}, format="json").json()
    staff_client.delete(f"/api/api-keys/{made['id']}/")
    assert [e.username for e in events(Kind.KEY_CREATED)] == ["staff"]
    assert made["id"] in events(Kind.KEY_REVOKED)[0].detail


def test_a_burst_of_refusals_from_one_address_is_recorded_once(db, settings, staff):
    settings.SECURITY_DENIED_BURST = 5
    prober = client_for(None)
    prober.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    for _ in range(8):  # under the login limit (10 bad credentials), past the burst
        assert prober.get("/api/predictions/").status_code == 401
    burst = events(Kind.DENIED_BURST)
    assert (
        len(burst) == 1
        and burst[0].client == "127.0.0.1"
        and "5 requests refused" in burst[0].detail
    )
    text = client_for(staff).get("/metrics").content.decode()
    counted = {
        s.labels["kind"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "mlsite_security_events"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counted.get("denied_burst", 0) >= 1
