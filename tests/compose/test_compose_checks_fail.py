# SPDX-License-Identifier: Apache-2.0
"""The compose checks catch what they claim to: each test breaks one thing in a copy of the real files."""

from __future__ import annotations

from typing import Any

import pytest

from . import checks

pytestmark = pytest.mark.unit


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the mutation target must occur exactly once: {old!r}"
    return text.replace(old, new)


def problems_of(compose: str, env: str, config: str, schema: dict[str, Any] | None = None) -> list[str]:
    return checks.check_all(compose, env, config, schema=schema)


def assert_reported(problems: list[str], *fragments: str) -> None:
    matching = [problem for problem in problems if all(fragment in problem for fragment in fragments)]
    assert matching, f"no problem mentions {fragments}; got:\n" + "\n".join(problems)


# Each case: (what is broken, old text, new text, fragments the report must contain).
COMPOSE_MUTATIONS = [
    pytest.param(
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318",
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4317",
        ("services.pipelines", "receiver port 4318"),
        id="filter-sends-http-to-the-grpc-port",
    ),
    pytest.param(
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4319",
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4317",
        ("services.open-webui", "receiver port 4319"),
        id="open-webui-sends-to-the-authenticated-receiver-it-cannot-use",
    ),
    pytest.param(
        "      - --config=/etc/otelcol-contrib/receiver-auth.yaml\n",
        "",
        ("services.otel-collector", "no token", "receiver-auth.yaml"),
        id="receiver-without-auth-overlay",
    ),
    pytest.param(
        "OTEL_EXPORTER_OTLP_HEADERS: authorization=Bearer%20${OTEL_INGEST_TOKEN",
        "OTEL_EXPORTER_OTLP_HEADERS: authorization=Bearer%20x${OTEL_INGEST_TOKEN",
        ("services.pipelines", "OTEL_INGEST_TOKEN"),
        id="pipelines-sends-another-token",
    ),
    pytest.param(
        '      - "4319"     # OTLP/gRPC receiver without a token',
        "      # 4319 not declared",
        ("services.otel-collector.expose", "4319"),
        id="openwebui-receiver-port-not-declared",
    ),
    pytest.param(
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318",
        "OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4318",
        ("services.pipelines", "does not point at the otel-collector service"),
        id="filter-sends-to-an-unknown-host",
    ),
    pytest.param(
        'OTELCOL_HTTP_PORT: "4318"',
        'OTELCOL_HTTP_PORT: "4320"',
        ("OTLP/HTTP port 4320 is not declared",),
        id="collector-listens-on-an-undeclared-port",
    ),
    pytest.param(
        "JAEGER_OTLP_ENDPOINT: jaeger:4317",
        "JAEGER_OTLP_ENDPOINT: jaeger:4318",
        ("JAEGER_OTLP_ENDPOINT port 4318",),
        id="jaeger-exporter-on-the-http-port",
    ),
    pytest.param(
        "JAEGER_OTLP_ENDPOINT: jaeger:4317",
        "JAEGER_OTLP_ENDPOINT: jaegr:4317",
        ("JAEGER_OTLP_ENDPOINT=jaegr:4317 names no service",),
        id="jaeger-exporter-to-an-unknown-service",
    ),
    pytest.param(
        "JAEGER_OTLP_ENDPOINT: jaeger:4317",
        "JAEGER_OTLP_ENDPOINT: otel-collector:4317",
        ("points at the collector itself",),
        id="jaeger-exporter-loops-into-the-collector",
    ),
    pytest.param(
        "OTELCOL_RECEIVER_HOST: 0.0.0.0 ",
        "OTELCOL_RECEIVER_HOST: localhost ",
        ("OTELCOL_RECEIVER_HOST must be 0.0.0.0",),
        id="receiver-bound-to-localhost",
    ),
    pytest.param(
        "      OTELCOL_LOG_LEVEL: ${OTELCOL_LOG_LEVEL:-info}\n",
        "      OTELCOL_LOG_LEVEL: ${OTELCOL_LOG_LEVEL:-info}\n      OTELCOL_LOGLEVEL: debug\n",
        ("OTELCOL_LOGLEVEL", "otel-collector.yaml does not read it"),
        id="collector-env-var-the-config-does-not-read",
    ),
    pytest.param(
        "      OTELCOL_QUEUE_DIR: /var/lib/otelcol/file_storage\n",
        "",
        ("OTELCOL_QUEUE_DIR is required",),
        id="no-queue-dir",
    ),
    pytest.param(
        "        source: ./otel-collector.yaml",
        "        source: ./otel-collector.yml",
        ("./otel-collector.yml does not exist",),
        id="missing-collector-config-file",
    ),
    pytest.param(
        "        source: ./compose/otelcol-init.sh",
        "        source: ./compose/missing.sh",
        ("./compose/missing.sh does not exist",),
        id="missing-init-script",
    ),
    pytest.param(
        "      - open-webui:/app/backend/data",
        "      - open-webui-data:/app/backend/data",
        ("open-webui-data is not declared",),
        id="undeclared-named-volume",
    ),
    pytest.param(
        "      - open-webui:/app/backend/data",
        "      - ./data:/app/backend/data",
        ("./data does not exist",),
        id="short-syntax-bind-of-a-missing-directory",
    ),
    pytest.param(
        "      WEBUI_SECRET_KEY: ${WEBUI_SECRET_KEY:-}\n",
        "      WEBUI_SECRET_KEY: ${WEBUI_SECRET_KEY:-}\n      WEBUI_NAME: ${UNDOCUMENTED_NAME}\n",
        ("${UNDOCUMENTED_NAME}", "not documented in .env.example"),
        id="undocumented-variable",
    ),
    pytest.param(
        "      PIPELINES_API_KEY: ${PIPELINES_API_KEY:?set it in .env, see .env.example}",
        "      PIPELINES_API_KEY: ${PIPELINES_API_KEY:-0p3n-w3bu!}",
        ("secret PIPELINES_API_KEY has an inline default",),
        id="secret-with-inline-default",
    ),
    pytest.param(
        "      PIPELINES_API_KEY: ${PIPELINES_API_KEY:?set it in .env, see .env.example}",
        "      PIPELINES_API_KEY: ${PIPELINES_API_KEY}",
        ("PIPELINES_API_KEY is required at", "but optional at"),
        id="required-variable-not-required-everywhere",
    ),
    pytest.param(
        '"127.0.0.1:${JAEGER_UI_PORT:-16686}:16686"',
        '"${JAEGER_UI_PORT:-16686}:16686"',
        ("services.jaeger.ports", "bind published ports to 127.0.0.1"),
        id="port-published-on-all-interfaces",
    ),
    pytest.param(
        '      - "4318"     # OTLP/HTTP receiver (the filter\'s spans), bearer token required',
        '      - "4318"\n    ports:\n      - "127.0.0.1:4318:4318"  #',
        ("services.otel-collector.ports", "publishes a port users do not need"),
        id="collector-receiver-published",
    ),
    pytest.param(
        '"${LLM_API_KEY:-};${PIPELINES_API_KEY:?set it in .env, see .env.example}"',
        '"${PIPELINES_API_KEY:?set it in .env, see .env.example}"',
        ("OPENAI_API_BASE_URLS has 2 entries but OPENAI_API_KEYS 1",),
        id="connections-and-keys-misaligned",
    ),
    pytest.param(
        "http://pipelines:9099",
        "http://pipelines:9098",
        ("pipelines does not listen on 9098",),
        id="pipelines-connection-on-a-wrong-port",
    ),
    pytest.param(
        "PIPELINES_URLS: file:///opt/owui-otel/otel_filter_pipeline.py",
        "PIPELINES_URLS: file:///opt/owui-otel/other_filter.py",
        ("PIPELINES_URLS file:///opt/owui-otel/other_filter.py is not a file bind-mounted",),
        id="filter-url-not-mounted",
    ),
    pytest.param(
        'test: ["CMD", "python", "/opt/owui-otel/pipelines_healthcheck.py", "otel_filter_pipeline"]',
        'test: ["CMD", "python", "/opt/owui-otel/pipelines_healthcheck.py"]',
        ("healthcheck: does not wait for the filter otel_filter_pipeline",),
        id="healthcheck-ignores-the-filter",
    ),
    pytest.param(
        "      OVERLAY: /etc/otelcol-contrib/generated/langfuse-auth.yaml",
        "      OVERLAY: /etc/otelcol-contrib/generated/auth.yaml",
        ("OVERLAY", "is not the collector's"),
        id="init-writes-an-overlay-the-collector-does-not-load",
    ),
    pytest.param(
        "      otelcol-init:\n        condition: service_completed_successfully",
        "      otelcol-init:\n        condition: service_started",
        ("otelcol-init must complete successfully first",),
        id="collector-does-not-wait-for-init",
    ),
    pytest.param(
        "        restart: true\n",
        "",
        ("set `restart: true`",),
        id="collector-keeps-a-stale-overlay",
    ),
    pytest.param(
        "image: otel/opentelemetry-collector-contrib:0.161.0",
        "image: otel/opentelemetry-collector-contrib:latest",
        ("not pinned to a release tag",),
        id="unpinned-image",
    ),
    pytest.param(
        "image: ghcr.io/open-webui/pipelines:git-26b8f20",
        "image: ghcr.io/open-webui/pipelines:main",
        ("services.pipelines", "not pinned"),
        id="pipelines-on-its-branch-tag",
    ),
    pytest.param(
        "image: grafana/grafana:12.4.11",
        "image: grafana/grafana:latest",
        ("services.grafana", "not pinned"),
        id="grafana-latest",
    ),
    pytest.param(
        "image: prom/prometheus:v3.16.0",
        "image: prom/prometheus",
        ("services.prometheus", "not pinned"),
        id="prometheus-untagged",
    ),
    pytest.param(
        "image: minio/minio:RELEASE.2025-09-07T16-13-09Z",
        "image: minio/minio:latest",
        ("services.langfuse-minio", "not pinned"),
        id="minio-latest",
    ),
    pytest.param(
        "      pipelines:\n        condition: service_started\n        required: false",
        "      pipelines:\n        condition: service_healthy\n        required: false",
        ("services.open-webui.depends_on.pipelines", "service_healthy", "wait on tracing"),
        id="chat-waits-for-a-healthy-pipelines",
    ),
    pytest.param(
        "      otel-collector:\n        condition: service_started\n        required: false\n\n  pipelines:",
        "      otel-collector:\n        condition: service_started\n\n  pipelines:",
        ("services.open-webui.depends_on.otel-collector", "required: false"),
        id="chat-needs-the-collector-to-start",
    ),
    pytest.param(
        '"127.0.0.1:${JAEGER_UI_PORT:-16686}:16686"',
        '"127.0.0.1:16686:16686"',
        ("services.jaeger.ports", "'16686'", "variable with a default"),
        id="fixed-host-port",
    ),
    pytest.param(
        "        target: /etc/otelcol-contrib/config.yaml\n        read_only: true\n"
        "        bind:\n          selinux: z\n",
        "        target: /etc/otelcol-contrib/config.yaml\n        read_only: true\n",
        ("services.otel-collector.volumes", "./otel-collector.yaml", "selinux"),
        id="collector-config-without-selinux-label",
    ),
    pytest.param(
        "      jaeger:\n        condition: service_started",
        "      jaeger:\n        condition: service_started\n      langfuse-web:\n        condition: service_started",
        ("langfuse-web runs only with a profile",),
        id="default-service-depends-on-a-profile-service",
    ),
]


@pytest.mark.parametrize(("old", "new", "fragments"), COMPOSE_MUTATIONS)
def test_broken_compose_file_is_reported(
    compose_text: str, env_text: str, collector_config_text: str, old: str, new: str, fragments: tuple[str, ...]
) -> None:
    assert problems_of(compose_text, env_text, collector_config_text) == []  # the unbroken files pass
    assert_reported(problems_of(replace_once(compose_text, old, new), env_text, collector_config_text), *fragments)


ENV_MUTATIONS = [
    pytest.param(
        "JAEGER_UI_PORT=16686\n",
        "JAEGER_UI_PORT=16686\n# A variable nothing reads.\nNOT_USED_ANYWHERE=1\n",
        ("NOT_USED_ANYWHERE is in .env.example but docker-compose.yml never reads it",),
        id="dead-variable",
    ),
    pytest.param(
        "# Host port of the Jaeger UI (bound to 127.0.0.1): http://localhost:16686\n",
        "",
        ("JAEGER_UI_PORT has no explanatory comment",),
        id="unexplained-variable",
    ),
    pytest.param(
        "PIPELINES_API_KEY=local-pipelines-key-change-me",
        "PIPELINES_API_KEY=",
        ("PIPELINES_API_KEY is required but has no value in .env.example",),
        id="required-variable-without-example-value",
    ),
    pytest.param(
        "LANGFUSE_SALT=localsaltchangeme\n",
        "",
        ("${LANGFUSE_SALT}", "not documented in .env.example"),
        id="variable-missing-from-env-example",
    ),
    pytest.param(
        "# LANGFUSE_HOST=http://langfuse-web:3000",
        "# LANGFUSE_HOST=http://langfuse-web:3030",
        (".env.example LANGFUSE_HOST", "langfuse-web does not listen on 3030"),
        id="documented-local-langfuse-url-on-a-wrong-port",
    ),
]


@pytest.mark.parametrize(("old", "new", "fragments"), ENV_MUTATIONS)
def test_broken_env_example_is_reported(
    compose_text: str, env_text: str, collector_config_text: str, old: str, new: str, fragments: tuple[str, ...]
) -> None:
    assert_reported(problems_of(compose_text, replace_once(env_text, old, new), collector_config_text), *fragments)


def test_collector_config_that_stops_reading_a_variable_is_reported(
    compose_text: str, env_text: str, collector_config_text: str
) -> None:
    renamed = collector_config_text.replace("${env:JAEGER_OTLP_ENDPOINT:", "${env:JAEGER_ENDPOINT:")
    assert renamed != collector_config_text
    assert_reported(problems_of(compose_text, env_text, renamed), "JAEGER_OTLP_ENDPOINT", "does not read it")


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        pytest.param(
            '    restart: "no"\n    entrypoint: ["sh", "/otelcol-init.sh"]',
            '    restrat: "no"\n    entrypoint: ["sh", "/otelcol-init.sh"]',
            ("restrat",),
            id="misspelled-key",
        ),
        pytest.param(
            "    profiles: [langfuse]\n    restart: unless-stopped\n    user:",
            "    profiles: langfuse\n    restart: unless-stopped\n    user:",
            ("profiles", "not of type 'array'"),
            id="wrong-type",
        ),
        pytest.param("\nvolumes:\n", "\nvolumez:\n", ("volumez",), id="unknown-top-level-key"),
    ],
)
def test_compose_file_outside_the_specification_is_reported(
    compose_text: str,
    env_text: str,
    collector_config_text: str,
    spec_schema: dict[str, Any],
    old: str,
    new: str,
    fragments: tuple[str, ...],
) -> None:
    broken = replace_once(compose_text, old, new)
    schema_problems = [
        problem
        for problem in problems_of(broken, env_text, collector_config_text, schema=spec_schema)
        if problem.startswith("schema:")
    ]
    assert_reported(schema_problems, *fragments)
