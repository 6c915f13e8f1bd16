import pytest
from sklearn.linear_model import LogisticRegression

from predictor.services.errors import ArtifactIntegrityError
from predictor.services.registry import artifacts


def fitted():
    return LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])


def test_round_trip_is_atomic_and_hashed(settings):
    stored = artifacts.artifact_save(obj=fitted())
    path = settings.ARTIFACT_ROOT / stored.name
    assert path.exists() and stored.size_bytes == path.stat().st_size
    assert stored.sha256 == artifacts.sha256_bytes(data=path.read_bytes())
    assert not [p for p in settings.ARTIFACT_ROOT.iterdir() if p.name.startswith(".tmp")]
    model = artifacts.artifact_load(name=stored.name, sha256=stored.sha256)
    assert model.predict([[3.0]]).tolist() == [1]


def test_tampered_artifact_is_refused(settings):
    stored = artifacts.artifact_save(obj=fitted())
    path = settings.ARTIFACT_ROOT / stored.name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="does not match its recorded sha256"):
        artifacts.artifact_load(name=stored.name, sha256=stored.sha256)


def test_truncated_artifact_is_refused(settings):
    stored = artifacts.artifact_save(obj=fitted())
    path = settings.ARTIFACT_ROOT / stored.name
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ArtifactIntegrityError):
        artifacts.artifact_load(name=stored.name, sha256=stored.sha256)


def test_missing_artifact_is_refused():
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        artifacts.artifact_load(name="0" * 64 + ".joblib", sha256="0" * 64)


@pytest.mark.parametrize("name", ["../evil.joblib", "/etc/passwd", "sub/x.joblib", ".tmp-x"])
def test_only_files_of_the_store_are_loaded(name):
    with pytest.raises(ArtifactIntegrityError, match="not in the artifact store"):
        artifacts.artifact_load(name=name, sha256="0" * 64)


def test_loaded_once_per_process():
    stored = artifacts.artifact_save(obj=fitted())
    before = artifacts.load_count
    first = artifacts.artifact_load(name=stored.name, sha256=stored.sha256)
    second = artifacts.artifact_load(name=stored.name, sha256=stored.sha256)
    assert first is second
    assert artifacts.load_count == before + 1
