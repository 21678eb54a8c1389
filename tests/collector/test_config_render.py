# SPDX-License-Identifier: Apache-2.0
"""render_config / config_dict / `python -m collector config`, and their agreement with otel-collector.yaml."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import (
    BUILTIN_EXPORTERS,
    EXPORTERS_FULL,
    UsageError,
    config_dict,
    parse_otlp_target,
    render_config,
    spec_from_env,
)
from collector._backends import BACKENDS, content_stripping, env_defaults
from collector._components import CONTENT_ATTRIBUTES, ENV_DEFAULTS
from collector._config import ConfigSpec, env_vars_used
from collector.cli import main
from tests.support.stack import RECEIVER_AUTH_OVERLAY, ROOT_CONFIG

pytestmark = pytest.mark.unit


def merge(base: Any, overlay: Any) -> Any:
    """The collector's --config merge: maps merge recursively, everything else (arrays too) is replaced."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return overlay


def test_root_config_is_exactly_the_full_render() -> None:
    # otel-collector.yaml is the hand-commented form of the renderer's langfuse+jaeger output; this keeps them equal.
    assert yaml.safe_load(ROOT_CONFIG.read_text(encoding="utf-8")) == config_dict(EXPORTERS_FULL)


def test_root_plus_overlay_is_the_receiver_auth_render() -> None:
    root = yaml.safe_load(ROOT_CONFIG.read_text(encoding="utf-8"))
    overlay = yaml.safe_load(RECEIVER_AUTH_OVERLAY.read_text(encoding="utf-8"))
    assert merge(root, overlay) == config_dict(EXPORTERS_FULL, receiver_auth=True)


@pytest.mark.parametrize(
    "exporters",
    [combo for size in range(1, 5) for combo in itertools.combinations(BUILTIN_EXPORTERS, size)],
    ids="+".join,
)
def test_every_pipeline_starts_with_memory_limiter_and_ends_with_batch(exporters: tuple[str, ...]) -> None:
    config = config_dict(exporters, metrics=False)  # the metrics pipelines: tests/metrics/test_metrics_config.py
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {f"traces/{name}" for name in exporters}
    for name, pipeline in pipelines.items():
        assert pipeline["receivers"] == ["otlp"]
        assert pipeline["processors"][0] == "memory_limiter"
        if name == "traces/langfuse":
            # Persistent queue: no batch processor holding acknowledged spans in memory in front of it.
            assert "batch" not in pipeline["processors"]
            assert config["exporters"]["otlp_http/langfuse"]["sending_queue"]["storage"] == "file_storage/queue"
        else:
            assert pipeline["processors"][-1] == "batch"
        assert len(pipeline["exporters"]) == 1
    # Every referenced component is defined, and nothing defined is unused.
    used = {p for pipeline in pipelines.values() for p in pipeline["processors"]}
    assert used == set(config["processors"])
    assert {e for pipeline in pipelines.values() for e in pipeline["exporters"]} == set(config["exporters"])
    assert config["service"]["extensions"] == list(config["extensions"])
    assert ("file_storage/queue" in config["extensions"]) == ("langfuse" in exporters)


def _processors(config: dict[str, Any], pipeline: str) -> list[str]:
    """The processors of one pipeline of a rendered config, in order."""
    processors: list[str] = config["service"]["pipelines"][pipeline]["processors"]
    return processors


def test_langfuse_pipeline_filters_then_transforms() -> None:
    config = config_dict(["langfuse"])
    # No batch: the persistent queue must hold a span before the receiver acknowledges it.
    assert _processors(config, "traces/langfuse") == ["memory_limiter", "filter/langfuse", "transform/langfuse"]
    exporter = config["exporters"]["otlp_http/langfuse"]
    assert exporter["endpoint"].endswith("/api/public/otel")
    assert exporter["headers"]["x-langfuse-ingestion-version"] == "4"
    assert exporter["headers"]["Authorization"] == "Basic ${env:LANGFUSE_AUTH_B64:-}"
    assert exporter["compression"] == "gzip"
    assert exporter["sending_queue"]["storage"] == "file_storage/queue"
    assert exporter["sending_queue"]["batch"]["max_size"] < 5_000_000  # Langfuse Cloud: 5 MB per request


def test_jaeger_strips_content_unless_kept() -> None:
    stripped = config_dict(["jaeger"])
    assert _processors(stripped, "traces/jaeger") == ["memory_limiter", "transform/strip_content", "batch"]
    statements = stripped["processors"]["transform/strip_content"]["trace_statements"]
    assert all(any(f'"{key}"' in statement for statement in statements) for key in CONTENT_ATTRIBUTES)
    kept = config_dict(["jaeger"], keep_content=["jaeger"])
    assert _processors(kept, "traces/jaeger") == ["memory_limiter", "batch"]
    assert "transform/strip_content" not in kept["processors"]


def test_generic_otlp_targets_get_their_own_pipelines() -> None:
    config = config_dict(
        ["debug"],
        [
            parse_otlp_target("name=tempo,endpoint=http://tempo:4318"),
            parse_otlp_target("name=peer,endpoint=peer:4317,protocol=grpc,insecure=true,content=keep"),
        ],
        debug_verbosity="detailed",
    )
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces/tempo"]["exporters"] == ["otlp_http/tempo"]
    assert "transform/strip_content" in pipelines["traces/tempo"]["processors"]
    assert pipelines["traces/peer"]["processors"] == ["memory_limiter", "batch"]
    assert config["exporters"]["otlp_grpc/peer"]["tls"] == {"insecure": True}
    assert config["exporters"]["debug"] == {"verbosity": "detailed"}


def test_receiver_auth_adds_the_authenticator() -> None:
    config = config_dict(["jaeger"], receiver_auth=True)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["auth"] == protocols["http"]["auth"] == {"authenticator": "bearertokenauth/ingest"}
    assert config["extensions"]["bearertokenauth/ingest"]["token"] == "${env:OTEL_INGEST_TOKEN}"
    assert "bearertokenauth/ingest" in config["service"]["extensions"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exporters": []}, "no exporter selected"),
        ({"exporters": ["zipkin"]}, "unknown exporter"),
        ({"exporters": ["debug"], "debug_verbosity": "loud"}, "debug verbosity"),
        # A bad option fails even when its backend is not selected.
        ({"exporters": ["jaeger"], "debug_verbosity": "loud"}, "debug verbosity"),
        ({"exporters": ["file"], "keep_content": ["file"]}, "file never strip"),
        ({"exporters": ["jaeger"], "keep_content": ["zipkin"]}, "only jaeger can keep it"),
    ],
)
def test_invalid_selections(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_config(**kwargs)


def test_rendered_text_header_lists_every_env_var_with_its_default() -> None:
    text = render_config(EXPORTERS_FULL, receiver_auth=True)
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == "# SPDX-License-Identifier: Apache-2.0"
    assert any("--exporters langfuse,jaeger --receiver-auth" in line for line in header)
    assert any("v0.144.0" in line for line in header)
    used = env_vars_used(yaml.safe_load(text))
    assert "OTEL_INGEST_TOKEN" in used and used["OTEL_INGEST_TOKEN"] is None
    for name, default in used.items():
        if name == "LANGFUSE_HOST":
            continue  # two defaults on purpose: "" for the gate, a placeholder URL for the endpoint
        assert default == env_defaults()[name]
        assert any(line.startswith(f"#   {name}") for line in header)


def test_no_secret_or_host_is_hard_coded() -> None:
    text = ROOT_CONFIG.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    exporter = config["exporters"]["otlp_http/langfuse"]
    assert "${env:LANGFUSE_AUTH_B64" in exporter["headers"]["Authorization"]
    assert exporter["endpoint"].startswith("${env:LANGFUSE_HOST")
    assert config["exporters"]["otlp_grpc/jaeger"]["endpoint"].startswith("${env:JAEGER_OTLP_ENDPOINT")
    assert "v0.144.0" in text.split("\n\n")[0]


def test_spec_from_env() -> None:
    assert spec_from_env({}).exporters == ("jaeger",)
    assert spec_from_env({"LANGFUSE_HOST": "https://cloud.langfuse.com"}).exporters == ("langfuse", "jaeger")
    spec = spec_from_env(
        {
            "OWUI_OTEL_EXPORTERS": "debug,file",
            "OWUI_OTEL_OTLP": "name=a,endpoint=http://a:4318;name=b,endpoint=b:4317,protocol=grpc",
            "OWUI_OTEL_RECEIVER_AUTH": "true",
        }
    )
    assert spec.exporters == ("debug", "file")
    assert [t.name for t in spec.otlp] == ["a", "b"]
    assert spec.receiver_auth


def test_cli_config_writes_the_file_and_prints_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("OWUI_OTEL_EXPORTERS", "OWUI_OTEL_OTLP", "OWUI_OTEL_RECEIVER_AUTH", "LANGFUSE_HOST"):
        monkeypatch.delenv(name, raising=False)
    target = tmp_path / "sub" / "c.yaml"
    argv = ["config", "-e", "jaeger,debug", "--otlp", "name=tempo,endpoint=http://tempo:4318", "--no-metrics"]
    code = main([*argv, "-o", str(target)])
    assert code == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(target.resolve())
    written = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert set(written["service"]["pipelines"]) == {"traces/jaeger", "traces/debug", "traces/tempo"}


def test_cli_config_reads_env_and_flags_override(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OWUI_OTEL_EXPORTERS", "langfuse,jaeger")
    monkeypatch.setenv("OWUI_OTEL_METRICS", "false")
    assert main(["config"]) == 0
    assert set(yaml.safe_load(capsys.readouterr().out)["service"]["pipelines"]) == {"traces/langfuse", "traces/jaeger"}
    assert main(["config", "--exporters", "file"]) == 0
    assert set(yaml.safe_load(capsys.readouterr().out)["service"]["pipelines"]) == {"traces/file"}


def test_cli_config_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OWUI_OTEL_OTLP", raising=False)
    assert main(["config", "--otlp", "name=x"]) == 2
    assert "endpoint is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["config", "--debug-verbosity", "loud"])
    assert info.value.code == 2


@pytest.mark.parametrize("command", ["build", "build-jaeger", "config", "validate", "langfuse-auth"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: python -m collector" in capsys.readouterr().out


@pytest.mark.parametrize("entry", BACKENDS, ids=lambda entry: entry.name)
def test_every_pipeline_is_built_from_its_registry_entry(entry: Any) -> None:
    # The renderer has no per-backend code: each pipeline follows from the entry's fields alone.
    config = config_dict([entry.name], metrics=False)
    stripped = ["transform/strip_content"] if entry.strips_content else []
    batch = [] if entry.persistent_queue else ["batch"]
    own = [processor.id for processor in entry.processors]
    assert config["service"]["pipelines"] == {
        entry.pipeline_id: {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", *own, *stripped, *batch],
            "exporters": [entry.exporter_id],
        }
    }
    assert config["exporters"] == {entry.exporter_id: entry.exporter(ConfigSpec())}
    assert list(config["extensions"]) == ["health_check", *(extension.id for extension in entry.extensions)]
    # Every env var the entry's blocks read is declared in the entry or among the shared ones, with its default.
    used = env_vars_used(config)
    declared = {**ENV_DEFAULTS, **entry.env}
    for name, default in used.items():
        assert name in declared, f"{entry.name} reads {name} without declaring it in Backend.env"
        if name != "LANGFUSE_HOST":  # two defaults on purpose, see test_rendered_text_header_lists_every_env_var...
            assert default == declared[name]
    assert set(entry.env) <= set(used), f"{entry.name} declares env vars its blocks never read"


@pytest.mark.parametrize("entry", content_stripping(), ids=lambda entry: entry.name)
def test_content_is_kept_only_where_asked(entry: Any) -> None:
    kept = config_dict([entry.name, "debug"], keep_content=[entry.name])
    assert "transform/strip_content" not in kept["service"]["pipelines"][entry.pipeline_id]["processors"]
    assert "transform/strip_content" not in kept["processors"]
    header = render_config([entry.name], keep_content=[entry.name]).splitlines()[1]
    assert f"--{entry.name}-keep-content" in header


def test_default_selection_follows_the_registry() -> None:
    assert spec_from_env({}).exporters == tuple(entry.name for entry in BACKENDS if entry.default)
    for entry in BACKENDS:
        if entry.default_if_set:
            assert entry.name in spec_from_env({entry.default_if_set: "x"}).exporters
            assert entry.name not in spec_from_env({entry.default_if_set: "  "}).exporters


def test_cli_help_lists_every_backend_and_its_keep_content_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["config", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for entry in BACKENDS:
        assert f"{entry.name}: {' '.join(entry.help.split())}" in text
        assert (f"--{entry.name}-keep-content" in text) == entry.strips_content


def test_cli_keep_content_flag_reaches_the_render(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OWUI_OTEL_EXPORTERS", raising=False)
    monkeypatch.delenv("OWUI_OTEL_OTLP", raising=False)
    assert main(["config", "-e", "jaeger", "--jaeger-keep-content"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert _processors(config, "traces/jaeger") == ["memory_limiter", "batch"]
