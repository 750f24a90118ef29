"""The Kubernetes deployment (deploy/kubernetes) checked without a cluster.

The manifests are validated against the Kubernetes API's own object schemas (strict: an unknown
field fails); the chart values' Kubernetes pieces (env sources, resources) are validated as the
Pod they become; the run queue's limits in the values are those of the repository's
``dagster.yaml``; and no file holds a secret value. What this cannot check (the chart's
rendering, a live cluster) is listed in docs/cluster.md.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from merge_pipeline_tests.dagster_stack import REPOSITORY

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (dev extra) is not installed"
)

DEPLOY = REPOSITORY / "deploy" / "kubernetes"
#: the Kubernetes version the manifests are written for
KUBERNETES_VERSION = "1.33"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _values() -> dict[str, Any]:
    [values] = _documents(DEPLOY / "values.yaml")
    return values


@pytest.mark.parametrize("name", ["receiver.yaml", "secrets.example.yaml"])
def test_manifests_are_valid_kubernetes_objects(name: str) -> None:
    documents = _documents(DEPLOY / name)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_receiver_service_selects_the_receiver_pods() -> None:
    deployment, service = _documents(DEPLOY / "receiver.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def _pod(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "check"},
        "spec": {"containers": [{"name": "check", "image": "check", **container}]},
    }


def _env_from(section: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *({"configMapRef": ref} for ref in section.get("envConfigMaps", [])),
        *({"secretRef": ref} for ref in section.get("envSecrets", [])),
    ]


def test_the_chart_values_kubernetes_pieces_are_valid_pod_fields() -> None:
    values = _values()
    [code] = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    containers = [
        {"envFrom": _env_from(code), "resources": code["resources"]},
        {"envFrom": _env_from(launcher), **launcher["runK8sConfig"]["containerConfig"]},
        {"envFrom": _env_from(values["dagsterDaemon"])},
        {"envFrom": _env_from(values["dagsterWebserver"])},
    ]
    for container in containers:
        kubernetes_validate.validate(_pod(container), KUBERNETES_VERSION, strict=True)
    # the user-deployments subchart requires these of each deployment
    assert {"name", "image", "port"} <= code.keys()
    assert {"repository", "pullPolicy"} <= code["image"].keys()


def test_every_secret_the_values_name_is_one_the_example_defines() -> None:
    values = _values()
    defined = {doc["metadata"]["name"] for doc in _documents(DEPLOY / "secrets.example.yaml")}
    sections = [
        *values["dagster-user-deployments"]["deployments"],
        values["runLauncher"]["config"]["k8sRunLauncher"],
        values["dagsterDaemon"],
        values["dagsterWebserver"],
    ]
    named = {ref["name"] for s in sections for ref in [*s["envSecrets"], *s["envConfigMaps"]]}
    assert named | {values["global"]["postgresqlSecretName"]} <= defined


def test_the_run_queue_on_kubernetes_keeps_one_run_per_account() -> None:
    instance = yaml.safe_load((REPOSITORY / "dagster.yaml").read_text())
    queue = _values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    expected = [
        {"key": limit["key"], "value": limit["value"], "limit": limit["limit"]}
        for limit in instance["concurrency"]["runs"]["tag_concurrency_limits"]
    ]
    assert queue["tagConcurrencyLimits"] == expected


def test_the_example_secrets_hold_placeholders_only() -> None:
    for document in _documents(DEPLOY / "secrets.example.yaml"):
        if document["kind"] != "Secret":
            continue
        for value in document["stringData"].values():
            assert "<" in value and ">" in value, "a Secret example must hold a placeholder"
