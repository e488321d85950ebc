"""docker-compose.yml is valid Compose and wired as the docs say, checked without a Docker engine."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from comfyloom.settings import Settings
from devstack import localstack

ROOT = Path(__file__).parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ONE_SHOTS = {"temporal-schema", "temporal-setup", "minio-setup"}


def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, dict[str, Any]] = loaded["services"]
    return found


def test_the_file_validates_against_the_compose_specification() -> None:
    checked = subprocess.run(
        [localstack.bin_path("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dependency_exists_and_long_running_services_restart_and_report_health() -> None:
    all_services = services()
    for name, service in all_services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)
        if name in ONE_SHOTS:
            assert service["restart"].startswith("on-failure"), name
        else:
            assert service["restart"] == "unless-stopped", name
            if name != "temporal-mtls":
                assert "healthcheck" in service, name


def test_app_services_set_only_real_settings() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("api", "worker-cpu", "worker-gpu", "temporal-setup"):
        unknown = set(services()[name]["environment"]) - fields
        assert not unknown, f"{name} sets variables comfyloom does not read: {unknown}"


def test_the_gpu_worker_gets_no_storage_credential_no_database_and_only_its_own_install() -> None:
    worker = services()["worker-gpu"]
    assert not [name for name in worker["environment"] if name.startswith("S3_")]
    assert "DATABASE_URL" not in worker["environment"]
    assert "GEMINI_API_KEY" not in worker["environment"]
    assert worker["build"]["args"]["EXTRAS"] == "gpu"
    assert services()["worker-cpu"]["build"]["args"]["EXTRAS"] == "cpu"
    assert services()["api"]["build"]["args"]["EXTRAS"] == "api"


def test_mounted_files_are_in_the_repository() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.startswith("./deploy/certs"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_temporal_is_reached_from_outside_only_through_mutual_tls() -> None:
    all_services = services()
    assert "ports" not in all_services["temporal"]
    proxy = all_services["temporal-mtls"]
    assert proxy["ports"] == ["7443:7443"]
    config = (ROOT / "deploy/nginx/temporal-mtls.conf").read_text()
    assert "ssl_verify_client on;" in config
    assert "grpc_pass grpc://temporal:7233;" in config
