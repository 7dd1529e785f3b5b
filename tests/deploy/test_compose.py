"""docker-compose.yml: valid against the Compose specification, every service present and
health-checked, started in dependency order, wired to the files it mounts, and its
one-shot `keys` script run for real."""

from __future__ import annotations

import base64
import graphlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from tests.deploy.tools import ROOT, run, tool

COMPOSE = ROOT / "docker-compose.yml"
LONG_RUNNING = {"postgres", "redis", "server", "worker", "prometheus", "grafana"}
ONE_SHOT = {"keys", "migrate"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved
    return loaded


def test_the_file_matches_the_compose_specification() -> None:
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_services_and_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert services[name]["restart"] == "unless-stopped"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no"
    # The application services are one image; the command picks the role.
    assert {services[name]["image"] for name in ("keys", "migrate", "server", "worker")} == {
        "${AMSS_IMAGE:-amss:local}"
    }
    assert services["migrate"]["command"] == ["migrate"]
    assert services["server"]["command"] == ["server"]
    assert services["worker"]["command"] == ["worker"]


def test_start_order_follows_the_dependency_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    conditions = {
        (name, dependency): spec["condition"]
        for name, service in services.items()
        for dependency, spec in service.get("depends_on", {}).items()
    }
    assert conditions == {
        ("migrate", "postgres"): "service_healthy",
        ("migrate", "keys"): "service_completed_successfully",
        ("server", "migrate"): "service_completed_successfully",
        ("server", "redis"): "service_healthy",
        ("worker", "migrate"): "service_completed_successfully",
        ("worker", "redis"): "service_healthy",
        ("prometheus", "server"): "service_healthy",
        ("prometheus", "worker"): "service_healthy",
        ("grafana", "prometheus"): "service_healthy",
    }
    graph = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises on a cycle
    position = order.index
    assert position("postgres") < position("migrate") < position("server") < position("prometheus")
    assert position("keys") < position("migrate") < position("worker") < position("grafana")


def test_roles_secrets_and_listeners(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("server", "worker"):
        env = services[name]["environment"]
        assert env["DB_URL"].startswith("postgresql://amss_app:")  # the restricted role
        assert "DB_MIGRATE_URL" not in env
        assert env["APP_ENV"] == "production"
        assert env["JWT_PRIVATE_KEY_PEM_FILE"].startswith("/var/lib/amss/")
        assert services[name]["read_only"] is True
        assert services[name]["tmpfs"] == ["/tmp"]
        assert "amss-secrets:/var/lib/amss:ro" in services[name]["volumes"]
    assert services["migrate"]["environment"]["DB_MIGRATE_URL"].startswith(
        "postgresql://amss_owner:"
    )
    assert services["keys"]["volumes"] == ["amss-secrets:/var/lib/amss"]
    server_check = " ".join(services["server"]["healthcheck"]["test"])
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert services["server"]["environment"]["HTTP_ADDR"] == ":8080"
    assert "http://127.0.0.1:8080/ready" in server_check
    assert services["worker"]["environment"]["WORKER_HTTP_ADDR"] == ":9091"
    assert "http://127.0.0.1:9091/ready" in worker_check
    assert "-h 127.0.0.1" in services["postgres"]["healthcheck"]["test"][1]
    init = services["postgres"]["volumes"][1]
    assert init.startswith("./deploy/postgres/init-roles.sh:/docker-entrypoint-initdb.d/")


def test_mounted_files_exist_and_prometheus_scrapes_both_listeners(
    compose: dict[str, Any],
) -> None:
    mounts = {}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
                mounts[target] = ROOT / source
    prometheus = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus["scrape_configs"]
    }
    assert targets == {"amss-server": ["server:8080"], "amss-worker": ["worker:9091"]}
    assert all(job["honor_labels"] for job in prometheus["scrape_configs"])
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert mounts["/etc/prometheus/alerts.yml"] == ROOT / "deploy/prometheus/alerts.yml"
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "amss.yml").read_text())
    folder = providers["providers"][0]["options"]["path"]
    assert mounts[f"{folder}/amss.json"] == ROOT / "deploy/grafana/amss.json"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"


def test_the_keys_service_generates_real_keys_once(compose: dict[str, Any], tmp_path: Path) -> None:
    """The `keys` command, as compose runs it, on this machine: the image's data folder
    becomes a temporary one and `amss` is this environment's."""
    script = compose["services"]["keys"]["command"][0].replace("/var/lib/amss", str(tmp_path))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def generate() -> None:
        result = subprocess.run(
            ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr

    generate()
    private = tmp_path / "jwt" / "jwt_private.pem"
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    public = serialization.load_pem_public_key((tmp_path / "jwt" / "jwt_public.pem").read_bytes())
    assert key.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
    assert private.stat().st_mode & 0o077 == 0
    secrets_key = (tmp_path / "secrets_key").read_text().strip()
    assert len(base64.urlsafe_b64decode(secrets_key)) == 32  # a Fernet key
    assert (tmp_path / "secrets_key").stat().st_mode & 0o077 == 0
    before = private.read_bytes(), secrets_key
    generate()  # a restart keeps the keys: tokens and encrypted secrets stay valid
    assert (private.read_bytes(), (tmp_path / "secrets_key").read_text().strip()) == before
