"""deploy=kubernetes: the app as a Deployment, each migration phase as a Job, valid offline."""

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.helpers import bake

# The oldest Kubernetes release still supported upstream when this was written, and the newest
# the schemas know: manifests that pass both run on every cluster in between.
KUBERNETES_VERSIONS = ["1.32.0", kubernetes_validate.latest_version()]
NAME = "my-service"


@pytest.fixture(
    scope="module",
    params=[{}, {"tenancy": "schema-per-tenant"}],
    ids=["postgresql", "postgresql-tenants"],
)
def manifests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = bake(tmp_path_factory.mktemp("kubernetes"), deploy="kubernetes", **request.param)
    return project / "deploy" / "kubernetes"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def resources(directory: Path) -> dict[str, dict[str, Any]]:
    """The Kubernetes objects of a kustomization, by kind."""
    kustomization = load(directory / "kustomization.yaml")
    documents = [load(directory / name) for name in kustomization["resources"]]
    return {document["kind"]: document for document in documents}


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_the_kubernetes_schema_strictly(manifests: Path, version: str) -> None:
    objects = [load(path) for path in sorted(manifests.glob("*/*.yaml"))]
    checked = [o for o in objects if not o["apiVersion"].startswith("kustomize.config.k8s.io")]

    for document in checked:
        kubernetes_validate.validate(document, version, strict=True)
    assert sorted(o["kind"] for o in checked) == ["Deployment", "Job", "Job", "Service"]


def test_every_kustomization_names_files_that_exist_and_uses_the_release_image(
    manifests: Path,
) -> None:
    release = load(manifests / "release" / "kustomization.yaml")
    assert release["kind"] == "Component"
    [image] = release["images"]
    for step in ("app", "pre-deploy", "post-deploy"):
        kustomization = load(manifests / step / "kustomization.yaml")
        assert kustomization["components"] == ["../release"]
        for resource in resources(manifests / step).values():
            if resource["kind"] != "Service":
                [container] = pod_spec(resource)["containers"]
                assert container["image"] == image["name"]


@pytest.mark.parametrize(
    ("phase", "command"),
    [
        ("pre-deploy", ["alembic", "-x", "phase=pre-deploy", "upgrade", "head"]),
        ("post-deploy", ["alembic", "upgrade", "head"]),
    ],
)
def test_each_phase_is_a_job_that_runs_once_within_a_deadline_on_the_direct_url(
    manifests: Path, phase: str, command: list[str]
) -> None:
    job = resources(manifests / phase)["Job"]
    spec = pod_spec(job)
    [container] = spec["containers"]

    assert job["metadata"]["name"] == f"{NAME}-{phase}"
    assert job["spec"]["backoffLimit"] == 0
    assert 0 < job["spec"]["activeDeadlineSeconds"] <= 3600
    assert spec["restartPolicy"] == "Never"
    assert container["command"] == command
    secrets = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"] for variable in container["env"]
    }
    assert secrets["MIGRATION_DATABASE_URL"] == {
        "name": f"{NAME}-database",
        "key": "migration-database-url",
    }
    assert secrets["DATABASE_URL"]["key"] == "database-url"


def test_the_app_waits_for_health_and_never_migrates(manifests: Path) -> None:
    deployment = resources(manifests / "app")["Deployment"]
    spec = pod_spec(deployment)
    [container] = spec["containers"]

    assert "initContainers" not in spec
    assert "alembic" not in str(container.get("command", ""))
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "httpGet" not in container["livenessProbe"], "an outage must not restart every pod"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    secrets = {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]["key"]
        for variable in container["env"]
        if "valueFrom" in variable
    }
    assert secrets["DATABASE_URL"] == "database-url"
    assert {"name": "DATABASE_POOLER", "value": "none"} in container["env"]


def test_every_pod_runs_unprivileged_with_limits(manifests: Path) -> None:
    for step in ("app", "pre-deploy", "post-deploy"):
        for resource in resources(manifests / step).values():
            if resource["kind"] == "Service":
                continue
            spec = pod_spec(resource)
            [container] = spec["containers"]
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["runAsUser"] == 10001
            assert spec["automountServiceAccountToken"] is False
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}


def test_the_migrate_script_passes_shellcheck_and_refuses_an_unknown_phase(
    manifests: Path,
) -> None:
    script = manifests / "migrate.sh"
    checked = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout

    refused = subprocess.run([str(script), "contract"], capture_output=True, text=True)

    assert refused.returncode == 2
    assert refused.stderr == (
        "migrate.sh: the phase is 'contract': use pre-deploy or post-deploy\n"
    )


# A stand-in for kubectl (no cluster here): it logs each call and answers `get job` and
# `get pods` from the files the test writes, so migrate.sh's decisions can be checked.
FAKE_KUBECTL = """#!/usr/bin/env bash
echo "$*" >> "$KUBECTL_CALLS"
case "$1 $2" in
    "get job/"*) cat "$KUBECTL_STATE/job" ;;
    "get pods") cat "$KUBECTL_STATE/pods" ;;
    "logs "*) echo "log of $2" ;;
esac
"""


@pytest.mark.parametrize(
    ("job", "pods", "returncode", "message"),
    [
        ("1/", "", 0, ""),
        ("/1", "", 1, "migrate.sh: the pre-deploy Job failed (its log is above)"),
        (
            "/",
            "ImagePullBackOff",
            1,
            "migrate.sh: the pre-deploy Job's pod cannot start (ImagePullBackOff)",
        ),
    ],
    ids=["succeeded", "failed", "cannot-start"],
)
def test_the_migrate_script_waits_for_the_job_and_says_how_it_ended(
    manifests: Path, tmp_path: Path, job: str, pods: str, returncode: int, message: str
) -> None:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    (state / "job").write_text(job)
    (state / "pods").write_text(pods)
    calls = tmp_path / "calls"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "KUBECTL_STATE": str(state),
        "KUBECTL_CALLS": str(calls),
    }

    ended = subprocess.run(
        [str(manifests / "migrate.sh"), "pre-deploy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert ended.returncode == returncode, ended.stderr
    assert (ended.stderr.splitlines() or [""])[-1].startswith(message)
    made = calls.read_text().splitlines()
    assert made[:2] == [
        f"delete job/{NAME}-pre-deploy --ignore-not-found --wait=true",
        f"apply -k {manifests / 'pre-deploy'}",
    ]
    if job != "/":
        assert f"logs job/{NAME}-pre-deploy" in made
