# SPDX-License-Identifier: Apache-2.0
"""docker-compose.yml and .env.example pass every static check (no Docker engine needed).

The same checks are shown able to fail in test_compose_checks_fail.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft7Validator

from collector import langfuse_basic_auth

from . import checks

pytestmark = pytest.mark.unit


def test_compose_file_is_valid_against_the_compose_specification(
    resolved: dict[str, Any], spec_schema: dict[str, Any]
) -> None:
    Draft7Validator.check_schema(spec_schema)
    assert checks.check_schema(resolved, spec_schema) == []


def test_every_check_passes_on_the_real_files(
    compose_text: str, env_text: str, collector_config_text: str, spec_schema: dict[str, Any]
) -> None:
    assert checks.check_all(compose_text, env_text, collector_config_text, schema=spec_schema) == []


def test_every_variable_is_documented_in_env_example_and_every_documented_one_is_used(
    compose_doc: dict[str, Any], env_example: checks.EnvExample
) -> None:
    assert checks.check_variables(compose_doc, env_example) == []


def test_env_example_explains_every_variable(env_example: checks.EnvExample) -> None:
    assert env_example.problems == []
    assert env_example.values, "no variables parsed: the parser or the file is broken"


def test_secrets_are_required_and_never_inline(compose_doc: dict[str, Any]) -> None:
    refs = checks.variable_refs(compose_doc)
    secrets = {ref.name for ref in refs if checks.SECRET_NAME.search(ref.name)}
    assert {"PIPELINES_API_KEY", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"} <= secrets
    for ref in refs:
        if ref.name in secrets - checks.OPTIONAL_SECRETS:
            assert ref.operator == ":?" and ref.argument, ref


def test_bind_mounted_files_exist_and_named_volumes_are_declared(compose_doc: dict[str, Any]) -> None:
    assert checks.check_mounts(compose_doc, checks.REPO_ROOT) == []
    sources = {mount.source for mount in checks.mounts(compose_doc) if mount.kind == "bind"}
    assert {"./otel-collector.yaml", "./pipelines/otel_filter_pipeline.py", "./compose/otelcol-init.sh"} <= sources


def test_only_the_web_uis_are_published_and_only_on_localhost(resolved: dict[str, Any]) -> None:
    assert checks.check_ports(resolved) == []
    published = {(port.service, port.target) for port in checks.published_ports(resolved)}
    assert published == set(checks.PUBLISHED_ALLOWED)


def test_images_are_pinned_and_dependencies_exist(compose_doc: dict[str, Any]) -> None:
    assert checks.check_images(compose_doc) == []
    assert checks.check_dependencies(compose_doc) == []
    images = {name: service["image"] for name, service in checks.services(compose_doc).items()}
    assert images["otel-collector"] == "otel/opentelemetry-collector-contrib:0.161.0"
    assert images["open-webui"] == "ghcr.io/open-webui/open-webui:v0.12.4"
    # Pipelines has no releases: the git-<sha> tag of the commit our Pipelines double and fixtures follow.
    assert images["pipelines"] == "ghcr.io/open-webui/pipelines:git-26b8f20"
    assert "26b8f20" in (checks.REPO_ROOT / "tests" / "fixtures" / "openwebui" / "README.md").read_text()
    assert images["langfuse-minio"].startswith("minio/minio:RELEASE.")
    # Prometheus: the release the local stack builds; Grafana: the line of the dashboard model we validate with.
    assert images["prometheus"] == "prom/prometheus:v3.16.0"
    assert images["grafana"].startswith("grafana/grafana:12.4.")


def test_open_webui_starts_whatever_state_tracing_is_in(compose_doc: dict[str, Any]) -> None:
    assert checks.check_chat_never_waits_for_tracing(compose_doc) == []
    depends = compose_doc["services"]["open-webui"]["depends_on"]
    assert set(depends) <= checks.TRACING_SERVICES and "pipelines" in depends
    for config in depends.values():
        assert config == {"condition": "service_started", "required": False}


def test_host_ports_are_variables_documented_in_env_example(
    compose_doc: dict[str, Any], env_example: checks.EnvExample, resolved: dict[str, Any]
) -> None:
    assert checks.check_host_ports_are_variables(compose_doc) == []
    names = set(re.findall(r"\$\{([A-Z_]+_PORT):-", json.dumps(compose_doc["services"])))
    assert names == {"OPEN_WEBUI_PORT", "JAEGER_UI_PORT", "LANGFUSE_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT"}
    assert names <= set(env_example.values)
    # Another value in .env moves the published port.
    moved, errors = checks.interpolate_doc(compose_doc, {**env_example.values, "OPEN_WEBUI_PORT": "3100"})
    assert errors == []
    published = {(port.service, port.published) for port in checks.published_ports(moved)}
    assert ("open-webui", "3100") in published


def test_every_repository_file_is_mounted_read_only_with_an_selinux_label(compose_doc: dict[str, Any]) -> None:
    binds = [mount for mount in checks.mounts(compose_doc) if mount.kind == "bind"]
    assert len(binds) >= 7
    assert all(mount.read_only and mount.selinux == "z" for mount in binds), binds


def test_langfuse_profile_warns_when_langfuse_host_is_empty(compose_doc: dict[str, Any]) -> None:
    all_services = checks.services(compose_doc)
    check = all_services["langfuse-host-check"]
    assert check["profiles"] == ["langfuse"]
    assert check["environment"]["LANGFUSE_HOST"] == "${LANGFUSE_HOST:-}"
    # Compose prints a failed optional dependency as a warning and still starts Langfuse.
    assert all_services["langfuse-web"]["depends_on"]["langfuse-host-check"] == {
        "condition": "service_completed_successfully",
        "required": False,
    }


def test_collector_env_parser_finds_what_the_config_header_lists(collector_config_text: str) -> None:
    reads = checks.collector_env_defaults(collector_config_text)
    assert reads["OTELCOL_RECEIVER_HOST"] == "localhost"
    assert reads["OTELCOL_GRPC_PORT"] == "4317"
    assert reads["OTELCOL_HTTP_PORT"] == "4318"
    assert reads["LANGFUSE_HOST"] == ""  # unset = the Langfuse pipeline drops everything
    assert {"OTELCOL_QUEUE_DIR", "JAEGER_OTLP_ENDPOINT", "LANGFUSE_AUTH_B64", "OTELCOL_HEALTH_ENDPOINT"} <= set(reads)


def test_collector_service_matches_otel_collector_yaml(resolved: dict[str, Any], collector_config_text: str) -> None:
    assert checks.check_collector_wiring(resolved, collector_config_text) == []


def test_every_service_url_uses_a_port_its_target_service_listens_on(
    resolved: dict[str, Any], env_example: checks.EnvExample
) -> None:
    assert checks.check_service_urls(resolved, env_example) == []


def test_open_webui_reaches_pipelines_with_its_key_and_pipelines_installs_the_filter(
    resolved: dict[str, Any],
) -> None:
    assert checks.check_pipelines_wiring(resolved) == []


def test_default_stack_runs_without_langfuse(resolved: dict[str, Any], env_example: checks.EnvExample) -> None:
    all_services = checks.services(resolved)
    always_on = {name for name, service in all_services.items() if not service.get("profiles")}
    assert always_on == checks.DEFAULT_SERVICES
    langfuse = {name for name, service in all_services.items() if service.get("profiles") == ["langfuse"]}
    assert langfuse == checks.LANGFUSE_SERVICES
    assert env_example.values["LANGFUSE_HOST"] == ""
    assert checks.environment(all_services["otel-collector"])["LANGFUSE_HOST"] == ""


def test_langfuse_profile_sends_to_the_local_langfuse_with_the_provisioned_keys(
    compose_doc: dict[str, Any], env_example: checks.EnvExample, collector_config_text: str
) -> None:
    local_hosts = [value for value in env_example.all_values("LANGFUSE_HOST") if "langfuse-web" in value]
    assert local_hosts == ["http://langfuse-web:3000"]
    assert "langfuse" in env_example.all_values("COMPOSE_PROFILES")
    env = {**env_example.values, "LANGFUSE_HOST": local_hosts[0], "COMPOSE_PROFILES": "langfuse"}
    document, errors = checks.interpolate_doc(compose_doc, env)
    assert errors == []
    assert checks.check_collector_wiring(document, collector_config_text) == []

    all_services = checks.services(document)
    web = checks.environment(all_services["langfuse-web"])
    init = checks.environment(all_services["otelcol-init"])
    # The project Langfuse creates at start has exactly the keys the collector authenticates with.
    assert web["LANGFUSE_INIT_PROJECT_PUBLIC_KEY"] == init["LANGFUSE_PUBLIC_KEY"] == env["LANGFUSE_PUBLIC_KEY"]
    assert web["LANGFUSE_INIT_PROJECT_SECRET_KEY"] == init["LANGFUSE_SECRET_KEY"] == env["LANGFUSE_SECRET_KEY"]
    assert web["LANGFUSE_INIT_ORG_ID"] and web["LANGFUSE_INIT_PROJECT_ID"]
    assert web["LANGFUSE_INIT_USER_EMAIL"] and web["LANGFUSE_INIT_USER_PASSWORD"]
    assert langfuse_basic_auth(init["LANGFUSE_PUBLIC_KEY"], init["LANGFUSE_SECRET_KEY"])  # the keys are usable
    # The browser URL Langfuse signs links with is the published host port.
    port = next(p for p in checks.published_ports(document) if p.service == "langfuse-web")
    assert web["NEXTAUTH_URL"] == f"http://localhost:{port.published}"
    assert len(web["ENCRYPTION_KEY"]) == 64 and int(web["ENCRYPTION_KEY"], 16) >= 0


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A}", {}, ""),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:+r}", {"A": "x"}, "r"),
        ("${A:+r}", {"A": ""}, ""),
        ("${A+r}", {"A": ""}, "r"),
        ("$A and $$A", {"A": "1"}, "1 and $A"),
        ("${A:-${B:-z}}", {}, "z"),
        ("x:${A:?need A}", {"A": "1"}, "x:1"),
    ],
)
def test_interpolation_follows_compose_semantics(template: str, env: dict[str, str], expected: str) -> None:
    assert checks.interpolate(template, env) == expected


@pytest.mark.parametrize(("template", "env"), [("${A:?need A}", {"A": ""}), ("${A?need A}", {}), ("${A", {})])
def test_interpolation_reports_missing_required_values_and_bad_syntax(template: str, env: dict[str, str]) -> None:
    with pytest.raises(checks.InterpolationError):
        checks.interpolate(template, env)


def test_documented_redaction_example_is_a_json_array_of_valid_regexes(env_example: checks.EnvExample) -> None:
    (example,) = env_example.alternatives["OWUI_OTEL_REDACT_PATTERNS"]
    patterns = json.loads(example)
    assert patterns and all(isinstance(pattern, str) for pattern in patterns)
    compiled = [re.compile(pattern) for pattern in patterns]
    assert any(regex.search("key sk-abcdefghijklmnopqrstuvwxyz") for regex in compiled)
    assert any(regex.search("mail jane.doe@example.com") for regex in compiled)
