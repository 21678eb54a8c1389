# SPDX-License-Identifier: Apache-2.0
"""Langfuse keys, checked the way Langfuse's own SDK checks them (``auth_check()``), and the project they open.

project = langfuse_project("https://cloud.langfuse.com", "pk-lf-…", "sk-lf-…")
project.url      # https://cloud.langfuse.com/project/<id>
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from owui_otel._errors import OwuiOtelError


@dataclass(frozen=True)
class LangfuseProject:
    id: str
    name: str
    url: str


class LangfuseKeysRejected(OwuiOtelError):
    """The host answered, and refused the key pair (``status`` 401 or 403)."""

    def __init__(self, host: str, status: int) -> None:
        super().__init__(f"{host} rejects the key pair ({status})")
        self.status = status


def langfuse_project(host: str, public_key: str, secret_key: str, timeout_s: float = 5.0) -> LangfuseProject:
    """The project of a key pair. Raises :class:`LangfuseKeysRejected`, or :class:`OwuiOtelError` when the
    check itself could not be made."""
    from langfuse import Langfuse  # noqa: PLC0415 (the [cli] extra)
    from langfuse._client.resource_manager import LangfuseResourceManager  # noqa: PLC0415

    # The SDK keeps one client per public key for the whole process, with the host it was first created
    # with; we may be asked about another host for the same key (doctor, then demo; tests).
    LangfuseResourceManager.reset()
    http = httpx.Client(timeout=timeout_s)
    client = Langfuse(
        public_key=public_key, secret_key=secret_key, base_url=host, tracing_enabled=False, httpx_client=http
    )
    try:
        client.auth_check()
        project = client.api.projects.get().data[0]
    except Exception as error:  # the SDK raises its own typed error per status
        status = getattr(error, "status_code", None)
        if status in (401, 403):
            raise LangfuseKeysRejected(host, status) from error
        raise OwuiOtelError(f"could not check the keys at {host}: {type(error).__name__}") from error
    finally:
        client.shutdown()
        http.close()
    return LangfuseProject(id=project.id, name=project.name, url=f"{host.rstrip('/')}/project/{project.id}")
