"""docker-compose.yml is valid Compose and wired as the docs say, checked without a Docker engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from comfyloom.settings import Settings
from devstack import localstack

ROOT = Path(__file__).parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
ONE_SHOTS = {"temporal-schema", "temporal-setup", "minio-setup"}
# What an operator on R2 and Temporal Cloud puts in .env: no bundled Temporal or MinIO.
R2_AND_TEMPORAL_CLOUD = {
    "COMPOSE_PROFILES": "monitoring",
    "POSTGRES_PASSWORD": "a-long-random-password",
    "TEMPORAL_ADDRESS": "comfyloom.a1b2c.tmprl.cloud:7233",
    "TEMPORAL_NAMESPACE": "comfyloom.a1b2c",
    "TEMPORAL_API_KEY": "eyJhbGciOi-a-temporal-cloud-key",
    "S3_ENDPOINT_URL": "https://0123456789abcdef.r2.cloudflarestorage.com",
    "S3_REGION": "auto",
    "S3_ACCESS_KEY_ID": "r2-key-id",
    "S3_SECRET_ACCESS_KEY": "r2-secret-0123456789",
    "S3_UPLOAD_ENDPOINT_URL": "https://0123456789abcdef.r2.cloudflarestorage.com",
    "PUBLIC_BASE_URL": "https://media.example.com",
    "ALERT_WEBHOOK_URL": "https://alerts.example.com/hook",
    "GRAFANA_ADMIN_PASSWORD": "another-long-password",
}


def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, dict[str, Any]] = loaded["services"]
    return found


def validate(path: Path) -> None:
    checked = subprocess.run(
        [localstack.bin_path("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_file_validates_against_the_compose_specification() -> None:
    validate(COMPOSE)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
    `${VAR?error}` (a missing required one raises, as `docker compose config` refuses)."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            parts = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(:?[-?]|)(.*)", text[i + 2 : j - 1], re.S)
            assert parts is not None, f"not a variable: {text[i:j]}"
            name, op, rest = parts.groups()
            value = env.get(name)
            unset = value is None or (op.startswith(":") and value == "")
            if op.endswith("-"):
                value = interpolate(rest, env) if unset else value
            elif op.endswith("?") and unset:
                raise KeyError(f"{name}: {rest}")
            out.append(value or "")
            i = j
        elif m := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[i:]):
            out.append(env.get(m.group(1), ""))
            i += m.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def resolved(env: dict[str, str]) -> dict[str, Any]:
    """The file as Compose runs it with this .env: interpolated, and only the services of its profiles."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return interpolate(node, env) if isinstance(node, str) else node

    loaded: dict[str, Any] = walk(yaml.safe_load(COMPOSE.read_text()))
    profiles = set(env.get("COMPOSE_PROFILES", "").split(","))
    loaded["services"] = {
        name: service
        for name, service in loaded["services"].items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }
    return {key: value for key, value in loaded.items() if not key.startswith("x-")}


def example_env() -> dict[str, str]:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def check_resolved(env: dict[str, str], tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Valid Compose once resolved, every dependency a service requires running too."""
    config = resolved(env)
    path = tmp_path / "resolved.yml"
    path.write_text(yaml.safe_dump(config))
    validate(path)
    running = config["services"]
    for name, service in running.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in running or condition.get("required") is False, (name, dependency)
    return running  # type: ignore[no-any-return]


def test_the_example_env_runs_the_bundled_temporal_and_minio(tmp_path: Path) -> None:
    running = check_resolved(example_env(), tmp_path)
    assert {"temporal", "temporal-setup", "temporal-ui", "minio", "minio-setup", "api", "worker-cpu"} <= set(running)
    assert running["api"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert running["api"]["environment"]["S3_ENDPOINT_URL"] == "http://minio:9000"


def test_r2_and_temporal_cloud_come_from_env_alone_with_no_bundled_minio_or_temporal(tmp_path: Path) -> None:
    running = check_resolved(R2_AND_TEMPORAL_CLOUD, tmp_path)
    assert not {name for name in running if name.startswith(("temporal", "minio"))}, set(running)
    assert {"postgres", "api", "worker-cpu", "prometheus", "alertmanager", "grafana"} == set(running)
    for name in ("api", "worker-cpu"):
        env = running[name]["environment"]
        assert env["S3_ENDPOINT_URL"] == R2_AND_TEMPORAL_CLOUD["S3_ENDPOINT_URL"] and env["S3_REGION"] == "auto"
        assert env["TEMPORAL_ADDRESS"] == R2_AND_TEMPORAL_CLOUD["TEMPORAL_ADDRESS"]
        assert env["TEMPORAL_API_KEY"] == R2_AND_TEMPORAL_CLOUD["TEMPORAL_API_KEY"]
        assert env["TEMPORAL_NAMESPACE"] == R2_AND_TEMPORAL_CLOUD["TEMPORAL_NAMESPACE"]


def test_the_storage_secret_is_required() -> None:
    with pytest.raises(KeyError, match="S3_SECRET_ACCESS_KEY"):
        resolved({key: value for key, value in example_env().items() if key != "S3_SECRET_ACCESS_KEY"})


def test_every_variable_compose_reads_is_in_the_example_with_what_it_is() -> None:
    read = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text())) | {"COMPOSE_PROFILES"}
    example = example_env()
    assert read <= set(example), read - set(example)
    # Each variable's block of lines (no blank line between) starts with a comment saying what it is.
    for block in ENV_EXAMPLE.read_text().split("\n\n"):
        lines = [line for line in block.strip().splitlines() if not line.startswith("# ---")]
        if any(not line.startswith("#") for line in lines):
            assert lines[0].startswith("#"), block


def test_every_dependency_exists_and_long_running_services_restart_and_report_health() -> None:
    all_services = services()
    for name, service in all_services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)
            # A service anyone runs waits for a bundled part only while its profile is on (R2, Temporal Cloud).
            if all_services[dependency].get("profiles") and not service.get("profiles"):
                assert condition.get("required") is False, (name, dependency)
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


def test_the_monitoring_settings_are_needed_only_with_its_profile(tmp_path: Path) -> None:
    """Compose reads every variable of the file whatever the profiles: the monitoring ones are checked as their
    containers start, so an .env without them still runs the rest."""
    env = {k: v for k, v in example_env().items() if k not in ("ALERT_WEBHOOK_URL", "GRAFANA_ADMIN_PASSWORD")}
    running = check_resolved(env, tmp_path)
    assert not {"prometheus", "alertmanager", "grafana"} & set(running)
