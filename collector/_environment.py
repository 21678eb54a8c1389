# SPDX-License-Identifier: Apache-2.0
"""The environment a collector process runs with: built in one place for ``owui-otel up`` and the test stack.

A rendered config reads its addresses, paths and secrets from environment variables (``${env:NAME:-default}``,
listed by :func:`collector._backends.env_defaults`). :func:`collector_env` fills them in for one collector on one
host: the inherited environment minus anything that could point the collector elsewhere (every variable a config
reads, the ``OTELCOL_``/``LANGFUSE_``/``OTEL_INGEST_`` families), then the given ports, paths and secrets, then
``overrides``.

Usage:

    >>> env = collector_env(
    ...     CollectorAddresses(host="127.0.0.1", otlp_grpc_port=4317, otlp_http_port=4318, health_port=13133,
    ...                        metrics_port=8888, jaeger_otlp_endpoint="127.0.0.1:14317"),
    ...     queue_dir="/tmp/queue", ingest_token="secret", inherited={"PATH": "/bin", "LANGFUSE_HOST": "x"},
    ... )
    >>> env["OTELCOL_HTTP_PORT"], env["OTEL_INGEST_TOKEN"], "LANGFUSE_HOST" in env, env["PATH"]
    ('4318', 'secret', False, '/bin')
    >>> sorted(set(env) - {"PATH"} - set(env_defaults()))  # it sets only what a rendered config reads
    []
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collector._auth import langfuse_base_url, langfuse_basic_auth
from collector._backends import env_defaults

__all__ = ["CollectorAddresses", "collector_env"]

_FAMILIES = ("OTELCOL_", "LANGFUSE_", "OTEL_INGEST_")
"""Prefixes of inherited variables never passed on (e.g. a shell's LANGFUSE_SECRET_KEY, which the collector
never needs, or an OTELCOL_ variable of another collector)."""


@dataclass(frozen=True, slots=True)
class CollectorAddresses:
    """Where one collector listens and where its Jaeger backend is."""

    host: str
    otlp_grpc_port: int
    otlp_http_port: int
    health_port: int
    metrics_port: int
    jaeger_otlp_endpoint: str


def collector_env(
    addresses: CollectorAddresses,
    *,
    queue_dir: str | os.PathLike[str],
    ingest_token: str | None = None,
    langfuse_host: str = "",
    langfuse_public_key: str = "",
    langfuse_secret_key: str = "",
    file_path: str | os.PathLike[str] | None = None,
    inherited: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The collector's environment.

    Args:
        addresses: receiver, health, metrics and Jaeger addresses.
        queue_dir: the persistent queue's directory (``OTELCOL_QUEUE_DIR``).
        ingest_token: the receiver's bearer token (``OTEL_INGEST_TOKEN``, read by the receiver-auth config).
        langfuse_host: Langfuse's base URL; empty leaves Langfuse off (its pipeline drops everything).
        langfuse_public_key: with ``langfuse_secret_key``, becomes ``LANGFUSE_AUTH_B64``.
        langfuse_secret_key: see ``langfuse_public_key``.
        file_path: where the file exporter writes (``OTELCOL_FILE_PATH``), if set.
        inherited: the environment passed on (default ``os.environ``), filtered as the module says.
        overrides: set last, over everything (e.g. shorter retry intervals in tests).
    """
    dropped = env_defaults()
    source = os.environ if inherited is None else inherited
    env = {key: value for key, value in source.items() if key not in dropped and not key.startswith(_FAMILIES)}
    env.update(
        {
            "OTELCOL_RECEIVER_HOST": addresses.host,
            "OTELCOL_GRPC_PORT": str(addresses.otlp_grpc_port),
            "OTELCOL_HTTP_PORT": str(addresses.otlp_http_port),
            "OTELCOL_HEALTH_ENDPOINT": f"{addresses.host}:{addresses.health_port}",
            "OTELCOL_METRICS_HOST": addresses.host,
            "OTELCOL_METRICS_PORT": str(addresses.metrics_port),
            "OTELCOL_QUEUE_DIR": str(queue_dir),
            "JAEGER_OTLP_ENDPOINT": addresses.jaeger_otlp_endpoint,
        }
    )
    if ingest_token is not None:
        env["OTEL_INGEST_TOKEN"] = ingest_token
    if file_path is not None:
        env["OTELCOL_FILE_PATH"] = str(Path(file_path))
    if langfuse_host:
        env["LANGFUSE_HOST"] = langfuse_base_url(langfuse_host)
        env["LANGFUSE_AUTH_B64"] = langfuse_basic_auth(langfuse_public_key, langfuse_secret_key)
    env.update(overrides or {})
    return env
