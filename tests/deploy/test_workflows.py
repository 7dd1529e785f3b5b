"""The GitHub workflows: actionlint (with shellcheck on every `run:` step), the workflow
JSON schema, and the jobs the project's process relies on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.deploy.tools import ROOT, run, tool

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_actionlint_passes() -> None:
    result = run(
        tool("actionlint"),
        "-no-color",
        "-oneline",
        "-shellcheck",
        tool("shellcheck"),
        "-pyflakes",
        "",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflows_match_the_schema(name: str) -> None:
    result = run(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        str(WORKFLOWS / name),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_lints_type_checks_tests_with_services_and_builds_the_image() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    jobs = ci["jobs"]
    assert "make lint" in steps_text(jobs["lint"])  # ruff and mypy --strict
    test = jobs["test"]
    assert set(test["services"]) == {"postgres", "redis"}
    assert test["env"]["AMSS_TEST_DB_URL"].startswith("postgresql://postgres@127.0.0.1:5432/")
    assert test["env"]["AMSS_TEST_REDIS_URL"].startswith("redis://127.0.0.1:6379/")
    assert "make test" in steps_text(test)
    assert ".ci/install-tools.sh" in steps_text(test)
    image = jobs["image"]
    build = next(
        s for s in image["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action")
    )
    assert build["with"]["push"] is False
    for job in jobs.values():
        assert job["timeout-minutes"] <= 30


def test_deploy_goes_to_uat_on_main_and_to_production_only_by_hand() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"]}
    assert deploy["on"]["workflow_dispatch"]["inputs"]["digest"]["required"] is True
    jobs = deploy["jobs"]
    assert jobs["build"]["if"] == "github.event_name == 'push'"
    assert jobs["build"]["permissions"]["packages"] == "write"
    assert jobs["uat"]["needs"] == ["build"]
    assert jobs["uat"]["environment"]["name"] == "uat"
    assert "values-uat.yaml" in steps_text(jobs["uat"])
    assert "scripts/smoke_test.sh" in steps_text(jobs["uat"])
    production = jobs["production"]
    assert production["if"].startswith("github.event_name == 'workflow_dispatch'")
    # Approval: the environment's required reviewers hold the job until they approve.
    assert production["environment"]["name"] == "production"
    assert "values-prod.yaml" in steps_text(production)
    for job in (jobs["uat"], production):
        assert "--set image.digest=" in steps_text(job)  # the image is deployed by digest
    for values in ("values-uat.yaml", "values-prod.yaml"):
        assert (ROOT / "deploy" / "helm" / "amss" / values).exists()


def test_the_ci_tools_script_passes_shellcheck() -> None:
    result = run(tool("shellcheck"), str(ROOT / ".ci" / "install-tools.sh"))
    assert result.returncode == 0, result.stdout
