# SPDX-License-Identifier: Apache-2.0
"""Langfuse keys checked with the langfuse SDK's auth_check(), against the Langfuse-contract endpoint."""

from __future__ import annotations

import pytest

from owui_otel._errors import OwuiOtelError
from owui_otel._langfuse import LangfuseKeysRejected, langfuse_project
from tests.support.langfuse_contract import PROJECT_ID, create_app
from tests.support.otlp_sink import dead_endpoint
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.unit


def test_keys_open_their_project_and_wrong_keys_are_rejected() -> None:
    with ThreadServer(create_app(public_key="pk-lf-a", secret_key="sk-lf-a")) as langfuse:
        project = langfuse_project(langfuse.url, "pk-lf-a", "sk-lf-a")
        assert project.id == PROJECT_ID
        assert project.url == f"{langfuse.url}/project/{PROJECT_ID}"
        with pytest.raises(LangfuseKeysRejected) as rejected:
            langfuse_project(langfuse.url, "pk-lf-a", "sk-lf-wrong")
        assert rejected.value.status == 401 and "sk-lf-wrong" not in str(rejected.value)
        # The SDK caches one client per public key: a second host for the same key is still checked there.
    with ThreadServer(create_app(public_key="pk-lf-a", secret_key="sk-lf-b")) as other:
        assert langfuse_project(other.url, "pk-lf-a", "sk-lf-b").url.startswith(other.url)


def test_unreachable_host_is_a_clear_error() -> None:
    with pytest.raises(OwuiOtelError, match="could not check the keys"):
        langfuse_project(dead_endpoint(), "pk-lf-a", "sk-lf-a", timeout_s=2.0)
