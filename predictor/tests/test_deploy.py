"""The deployment files under deploy/: no image can be built here, so they are checked for
syntax and for consistency with the project (settings, commands, docs/operations.md)."""

import json
import re
import shlex
from pathlib import Path, PurePosixPath

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
OUR_IMAGE = "mlsite"


def env_example_names() -> set[str]:
    """Names set in .env.example, commented-out ones (`# NAME=`) included."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def k8s_docs() -> list[dict]:
    return [d for f in K8S_FILES for d in yaml.safe_load_all(f.read_text()) if d]


def k8s_doc(kind: str, name: str) -> dict:
    return next(d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name)


def pod_spec(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def our_services() -> dict:
    return {k: s for k, s in compose()["services"].items() if s.get("image") == OUR_IMAGE}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [
        ln for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if not ln.startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [tuple(ln.split(None, 1)) for ln in joined.splitlines() if ln.strip()]


def test_every_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(files) >= 2
    for f in files:
        assert all(d is None or isinstance(d, dict) for d in yaml.safe_load_all(f.read_text())), f
    assert {"web", "worker", "migrate", "scheduler"} <= set(our_services())


def test_environment_names_exist_in_env_example():
    known = env_example_names()
    used = {name: "compose.yaml" for s in our_services().values() for name in s["environment"]}
    for doc in k8s_docs():
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = {**doc.get("data", {}), **doc.get("stringData", {})}
            used.update(dict.fromkeys(keys, doc["metadata"]["name"]))
        elif doc["kind"] in ("Deployment", "Job", "CronJob"):
            for c in pod_spec(doc)["containers"]:
                used.update({e["name"]: doc["metadata"]["name"] for e in c.get("env", [])})
    missing = {name: where for name, where in used.items() if name not in known}
    assert not missing, f"not in .env.example: {missing}"


def test_manage_py_commands_exist():
    commands = set(get_commands())
    files = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", *K8S_FILES]
    used = {
        m
        for f in files
        for m in re.findall(r"python[\"',\s]+manage\.py[\"',\s]+(\w+)", f.read_text())
    }
    assert {"migrate", "collectstatic", "run_worker", "retrain_due", "monitor"} <= used
    assert used <= commands, f"unknown commands: {used - commands}"


def test_dockerfile_runs_the_documented_gunicorn_command_as_non_root():
    instructions = dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    operations = (ROOT / "docs" / "operations.md").read_text()
    line = next(ln for ln in operations.splitlines() if "gunicorn mlsite.wsgi" in ln)
    # The documented command binds loopback behind nginx; in the image gunicorn listens on
    # the container's own (private) network, for the proxy in front of it.
    expected = shlex.split(line.replace(".venv/bin/", "").replace("127.0.0.1:8000", "0.0.0.0:8000"))
    cmd = [json.loads(args) for op, args in instructions if op == "CMD"]
    assert cmd[-1] == expected


def test_web_probes():
    (web,) = pod_spec(k8s_doc("Deployment", "mlsite-web"))["containers"]
    ready, live = web["readinessProbe"]["httpGet"], web["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/readyz", "/healthz")
    # Probes go to the pod's IP: their Host header must be an allowed host, or Django says 400.
    allowed = k8s_doc("ConfigMap", "mlsite-config")["data"]["DJANGO_ALLOWED_HOSTS"].split(",")
    for probe in (ready, live):
        hosts = [h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"]
        assert hosts and hosts[0] in allowed


@pytest.mark.parametrize("deployment", ["mlsite-web", "mlsite-worker"])
def test_artifact_volume_is_shared(deployment):
    config = k8s_doc("ConfigMap", "mlsite-config")["data"]
    (pvc,) = [d for d in k8s_docs() if d["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    spec = pod_spec(k8s_doc("Deployment", deployment))
    (volume,) = [
        v["name"]
        for v in spec["volumes"]
        if v.get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"]
    ]
    (container,) = spec["containers"]
    (mount,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume]
    for setting in ("ARTIFACT_ROOT", "MEDIA_ROOT"):
        assert PurePosixPath(config[setting]).is_relative_to(mount), setting
    # compose: the same paths, on the volume every service of the image mounts.
    for name, service in our_services().items():
        assert f"var:{mount}" in service["volumes"], name
        assert service["environment"]["ARTIFACT_ROOT"] == config["ARTIFACT_ROOT"], name
