"""The Helm chart (deploy/helm/amss), rendered by Helm's own engine for the default, UAT and
production values and validated against the Kubernetes JSON schemas, offline.

The engine is Helm's Go SDK, shipped inside the helm-python-sdk wheel (libhelm_c); the
schemas come with kubernetes-validate. ServiceMonitor and PrometheusRule are not core
kinds: they are checked against the prometheus-operator models (cloudcoil) and promtool.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

from amss.kit.keys import generate_key_pair
from tests.deploy.tools import ROOT, promtool, run

CHART = ROOT / "deploy" / "helm" / "amss"
KUBERNETES_VERSION = "1.31.0"  # the oldest minor still maintained upstream when written
Manifest = dict[str, Any]


def _generated_secrets() -> dict[str, Any]:
    """Real values for the chart-managed Secret of the default values (nothing committed)."""
    import base64
    import os

    keys = generate_key_pair()
    return {
        "secret": {
            "values": {
                "DB_URL": "postgresql://amss_app:app@postgres.example.internal:5432/amss",
                "DB_MIGRATE_URL": "postgresql://amss_owner:owner@postgres.example.internal:5432/amss",
                "JWT_PRIVATE_KEY_PEM": keys.private_pem,
                "JWT_PUBLIC_KEY_PEM": keys.public_pem,
                "SECRETS_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            }
        }
    }


def _values(name: str) -> dict[str, Any]:
    if name == "default":
        return _generated_secrets()
    loaded: dict[str, Any] = yaml.safe_load((CHART / f"values-{name}.yaml").read_text())
    return loaded


@functools.cache
def render(name: str) -> tuple[Manifest, ...]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(_values(name), name="amss", namespace="amss")
    manifests: list[Manifest] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return tuple(manifests)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


VALUES = ["default", "uat", "prod"]


def test_the_engine_is_helm_itself() -> None:
    assert helm.helm_sdk_version().startswith("v4.")


def test_helm_lint_finds_no_errors() -> None:
    result = helm.lint(str(CHART), values=_generated_secrets())
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


@pytest.mark.parametrize("values", VALUES)
def test_every_manifest_matches_the_kubernetes_schema(values: str) -> None:
    manifests = render(values)
    core = [m for m in manifests if not m["apiVersion"].startswith("monitoring.coreos.com/")]
    assert len(core) >= 9
    for manifest in core:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message}")


@pytest.mark.parametrize("values", VALUES)
def test_monitoring_resources_match_the_prometheus_operator_models(values: str) -> None:
    models = {
        "ServiceMonitor": monitoring.ServiceMonitor,
        "PrometheusRule": monitoring.PrometheusRule,
    }
    for manifest in render(values):
        if not manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        model = models[manifest["kind"]].model_validate(manifest)
        # The models ignore unknown fields: a round trip that loses one means a typo.
        assert model.model_dump(by_alias=True, exclude_unset=True, mode="json") == manifest


@pytest.mark.parametrize("values", VALUES)
def test_the_workloads_run_as_the_spec_requires(values: str) -> None:
    manifests = render(values)
    for component, port in (("server", "http"), ("worker", "metrics")):
        deployment = named(manifests, "Deployment", f"amss-{component}")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [component]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}} in pod["volumes"]
        assert container["resources"]["requests"] and container["resources"]["limits"]
        env = {item["name"]: item for item in container["env"]}
        # The restricted role only: the owner's URL never reaches a long-running pod.
        assert env["DB_URL"]["valueFrom"]["secretKeyRef"]["key"] == "DB_URL"
        assert "DB_MIGRATE_URL" not in env
    worker_ports = named(manifests, "Deployment", "amss-worker")["spec"]["template"]["spec"][
        "containers"
    ][0]["ports"]
    assert worker_ports == [{"name": "metrics", "containerPort": 9091, "protocol": "TCP"}]
    config = named(manifests, "ConfigMap", "amss")["data"]
    assert config["WORKER_HTTP_ADDR"] == ":9091"
    assert config["HTTP_ADDR"] == ":8080"
    service = named(manifests, "Service", "amss")
    assert {(p["name"], p["port"]) for p in service["spec"]["ports"]} == {
        ("http", 8080),
        ("grpc", 9090),
    }


@pytest.mark.parametrize("values", VALUES)
def test_migrations_run_first_as_the_owner_role(values: str) -> None:
    manifests = render(values)
    job = named(manifests, "Job", "amss-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert "DB_MIGRATE_URL" in {item["name"] for item in container["env"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    if values == "default":
        # The chart-managed owner URL exists only while the hook runs, created before it.
        secret = named(manifests, "Secret", "amss-migrate")
        annotations = secret["metadata"]["annotations"]
        assert int(annotations["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
        assert secret["stringData"]["DB_MIGRATE_URL"].startswith("postgresql://amss_owner:")
    else:
        # Secrets come from the cluster's secret manager: the chart creates none.
        assert of_kind(manifests, "Secret") == []


@pytest.mark.parametrize("values", ["uat", "prod"])
def test_environments_are_served_over_tls_scaled_and_monitored(values: str) -> None:
    manifests = render(values)
    ingress = named(manifests, "Ingress", "amss")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert hosts and hosts <= {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    autoscaled = {
        m["spec"]["scaleTargetRef"]["name"] for m in of_kind(manifests, "HorizontalPodAutoscaler")
    }
    assert "amss-server" in autoscaled
    monitors = of_kind(manifests, "ServiceMonitor")
    assert {m["spec"]["endpoints"][0]["port"] for m in monitors} == {"http", "metrics"}
    assert all(m["spec"]["endpoints"][0]["honorLabels"] for m in monitors)
    assert of_kind(manifests, "PrometheusRule")


def test_production_keeps_replicas_through_disruptions() -> None:
    manifests = render("prod")
    budgets = {m["metadata"]["name"]: m["spec"] for m in of_kind(manifests, "PodDisruptionBudget")}
    assert budgets["amss-server"]["minAvailable"] == 2
    assert budgets["amss-worker"]["minAvailable"] == 1
    scalers = {
        m["metadata"]["name"]: m["spec"] for m in of_kind(manifests, "HorizontalPodAutoscaler")
    }
    assert scalers["amss-server"]["minReplicas"] > budgets["amss-server"]["minAvailable"]
    assert scalers["amss-worker"]["minReplicas"] > budgets["amss-worker"]["minAvailable"]


def test_alerts_and_dashboard_are_the_shared_files(tmp_path: Path) -> None:
    manifests = render("prod")
    rule = of_kind(manifests, "PrometheusRule")[0]
    shared = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"] == shared
    dashboard = named(manifests, "ConfigMap", "amss-dashboard")
    assert json.loads(dashboard["data"]["amss.json"]) == json.loads(
        (ROOT / "deploy" / "grafana" / "amss.json").read_text()
    )
    # What the operator would load is valid for Prometheus too.
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    result = run(promtool(), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_without_secrets_refuse_to_render() -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError) as refused:
        chart.render({}, name="amss", namespace="amss")
    assert "secret.values.DB_URL is required" in str(refused.value)
