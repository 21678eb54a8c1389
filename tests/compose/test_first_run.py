# SPDX-License-Identifier: Apache-2.0
"""What bites on the Docker path's first run, checked without a Docker engine: Compose's own reading of the
dependencies and mounts, line endings of every file the containers run, the Langfuse profile's LANGFUSE_HOST
warning, and the init script's umask warning. These start processes (git, sh, docker-compose), so they are
integration tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from . import checks
from .test_compose_cli import LOCAL_LANGFUSE, compose_config, run_init

pytestmark = pytest.mark.integration

HOST_CHECK_SCRIPT = checks.REPO_ROOT / "compose" / "langfuse-host-check.sh"


def files_the_containers_run(doc: dict[str, Any]) -> list[str]:
    """Every repository file docker-compose.yml bind-mounts (scripts, Python, collector configs), and every file in
    a bind-mounted folder (Grafana's provisioning and dashboards)."""
    files: set[str] = set()
    for mount in checks.mounts(doc):
        if mount.kind != "bind":
            continue
        source = checks.REPO_ROOT / mount.source
        found = sorted(path for path in source.rglob("*") if path.is_file()) if source.is_dir() else [source]
        files.update(path.relative_to(checks.REPO_ROOT).as_posix() for path in found)
    return sorted(files)


def test_docker_compose_reads_the_chat_dependencies_as_optional_and_start_only(
    docker_compose: Path, tmp_path: Path
) -> None:
    config = compose_config(docker_compose, tmp_path, "--profile", "langfuse", extra_env={"LANGFUSE_HOST": ""})
    services = config["services"]
    for dependency in ("pipelines", "otel-collector"):
        wait = services["open-webui"]["depends_on"][dependency]
        assert wait["condition"] == "service_started" and wait["required"] is False, wait
    host_check = services["langfuse-web"]["depends_on"]["langfuse-host-check"]
    assert host_check["condition"] == "service_completed_successfully" and host_check["required"] is False
    # The YAML merge key kept Langfuse's own dependencies next to the check.
    assert {"langfuse-postgres", "langfuse-minio"} <= set(services["langfuse-web"]["depends_on"])
    assert "langfuse-host-check" not in services["langfuse-worker"]["depends_on"]
    binds = [volume for service in services.values() for volume in service.get("volumes") or []]
    binds = [volume for volume in binds if volume["type"] == "bind"]
    assert binds and all(volume["bind"].get("selinux") == "z" and volume["read_only"] for volume in binds), binds


def test_every_file_the_containers_run_keeps_lf_endings_on_any_checkout(compose_doc: dict[str, Any]) -> None:
    files = files_the_containers_run(compose_doc)
    assert "compose/otelcol-init.sh" in files and "compose/langfuse-host-check.sh" in files
    assert "compose/grafana/dashboards/open-webui-usage.json" in files
    assert "compose/grafana/provisioning/datasources/prometheus.yaml" in files
    git = shutil.which("git")
    assert git, "git is needed to read .gitattributes"
    result = subprocess.run(
        [git, "check-attr", "text", "eol", "--", *files],
        cwd=checks.REPO_ROOT, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    attributes: dict[str, dict[str, str]] = {}
    for line in result.stdout.splitlines():
        path, name, value = line.split(": ", 2)
        attributes.setdefault(path, {})[name] = value
    for path in files:
        assert attributes[path] == {"text": "set", "eol": "lf"}, f"{path}: add it to .gitattributes ({attributes})"
        assert b"\r" not in (checks.REPO_ROOT / path).read_bytes(), f"{path} has CR characters"


def test_a_crlf_init_script_fails_which_is_what_gitattributes_prevents(tmp_path: Path) -> None:
    crlf = tmp_path / "otelcol-init.sh"
    crlf.write_bytes(checks.REPO_ROOT.joinpath("compose", "otelcol-init.sh").read_bytes().replace(b"\n", b"\r\n"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QUEUE_DIR": str(tmp_path / "q")}
    result = subprocess.run(["sh", str(crlf)], capture_output=True, text=True, env=env, timeout=30, check=False)
    assert result.returncode != 0


def run_host_check(**env: str) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        ["sh", str(HOST_CHECK_SCRIPT)], capture_output=True, text=True, env=full_env, timeout=30, check=False
    )


def test_langfuse_profile_without_langfuse_host_says_so_and_how_to_fix_it() -> None:
    result = run_host_check(LANGFUSE_HOST="")
    assert result.returncode == 1
    assert "LANGFUSE_HOST is empty" in result.stderr
    assert f"Fix: set LANGFUSE_HOST={LOCAL_LANGFUSE} in .env" in result.stderr


def test_langfuse_profile_with_langfuse_host_passes_quietly() -> None:
    result = run_host_check(LANGFUSE_HOST=LOCAL_LANGFUSE)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert LOCAL_LANGFUSE in result.stdout


def test_init_warns_when_the_checkout_is_not_readable_by_the_collector(tmp_path: Path) -> None:
    private = tmp_path / "checkout" / "otelcol-init.sh"
    private.parent.mkdir()
    shutil.copy(checks.REPO_ROOT / "compose" / "otelcol-init.sh", private)
    private.chmod(0o600)  # what a clone made under `umask 077` gives
    result, _, _ = run_init(tmp_path, private)
    assert result.returncode == 0, result.stderr
    assert "not readable by other users" in result.stderr
    assert "chmod -R a+rX" in result.stderr

    private.chmod(0o644)
    result, _, _ = run_init(tmp_path, private)
    assert result.returncode == 0 and "not readable" not in result.stderr
