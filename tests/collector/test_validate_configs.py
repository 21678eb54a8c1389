# SPDX-License-Identifier: Apache-2.0
"""The real binary validates every config we ship or render (a config that stops validating fails here)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from collector import (
    BUILTIN_EXPORTERS,
    EXPORTERS_FULL,
    ValidationError,
    parse_otlp_target,
    render_config,
    validate_config,
)
from collector.cli import main
from tests.support.stack import RECEIVER_AUTH_OVERLAY, ROOT_CONFIG

pytestmark = pytest.mark.integration

# "No env set": only what a process needs to run at all.
BARE_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
TOKEN_ENV = {**BARE_ENV, "OTEL_INGEST_TOKEN": "test-token"}
TARGETS = (
    parse_otlp_target("name=tempo,endpoint=http://tempo:4318"),
    parse_otlp_target(
        "name=peer,endpoint=peer:4317,protocol=grpc,insecure=true,content=keep,compression=zstd,"
        "header=authorization=Bearer%20${env:PEER_TOKEN}"
    ),
    parse_otlp_target("name=saas,endpoint=https://otlp.example.com,header=x-api-key=${env:SAAS_KEY},compression=none"),
)


def test_root_config_validates_with_no_env(collector_binary: Path) -> None:
    validate_config(collector_binary, [ROOT_CONFIG], env=BARE_ENV)


def test_root_config_with_auth_overlay_validates_with_a_token(collector_binary: Path) -> None:
    validate_config(collector_binary, [ROOT_CONFIG, RECEIVER_AUTH_OVERLAY], env=TOKEN_ENV)


def test_auth_overlay_without_token_fails_loudly(collector_binary: Path) -> None:
    # No placeholder secret: forgetting OTEL_INGEST_TOKEN must stop the collector, not run it open.
    with pytest.raises(ValidationError, match="no bearer token provided"):
        validate_config(collector_binary, [ROOT_CONFIG, RECEIVER_AUTH_OVERLAY], env=BARE_ENV)


def test_validate_really_checks(collector_binary: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ROOT_CONFIG.read_text(encoding="utf-8").replace("FormatTime(", "FormatTimeX("), encoding="utf-8")
    with pytest.raises(ValidationError, match="FormatTimeX"):
        validate_config(collector_binary, [broken], env=BARE_ENV)


SELECTIONS = [combo for size in range(1, 5) for combo in itertools.combinations(BUILTIN_EXPORTERS, size)]


@pytest.mark.parametrize("auth", [False, True], ids=["open", "auth"])
@pytest.mark.parametrize("exporters", SELECTIONS, ids="+".join)
def test_every_builtin_selection_validates(
    collector_binary: Path, tmp_path: Path, exporters: tuple[str, ...], auth: bool
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(render_config(exporters, receiver_auth=auth), encoding="utf-8")
    validate_config(collector_binary, [config], env=TOKEN_ENV if auth else BARE_ENV)


@pytest.mark.parametrize(
    "exporters", [(), ("jaeger",), EXPORTERS_FULL, BUILTIN_EXPORTERS], ids=lambda e: "+".join(e) or "none"
)
def test_generic_otlp_targets_validate(collector_binary: Path, tmp_path: Path, exporters: tuple[str, ...]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        render_config(exporters, TARGETS, keep_content=["jaeger"], debug_verbosity="detailed"), encoding="utf-8"
    )
    validate_config(collector_binary, [config], env=BARE_ENV)


def test_cli_validate_and_config_validate(
    collector_binary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["validate", "--binary", str(collector_binary), "--config", str(ROOT_CONFIG)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(ROOT_CONFIG))
    out = tmp_path / "rendered.yaml"
    assert main(["config", "-e", "jaeger,file", "--validate", "--binary", str(collector_binary), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    broken = tmp_path / "broken.yaml"
    broken.write_text("receivers: {otlp: {protocols: {http: {}}}}\nservice: {pipelines: {traces: {}}}\n")
    assert main(["validate", "--binary", str(collector_binary), "--config", str(broken)]) == 1
    assert "not a valid collector config" in capsys.readouterr().err
    assert main(["validate", "--binary", str(collector_binary), "--config", str(tmp_path / "missing.yaml")]) == 2


def test_compose_layering_validates(collector_binary: Path) -> None:
    # docker-compose.yml runs the base file + the token overlay + the token-less receiver for Open WebUI's own spans.
    openwebui_receiver = ROOT_CONFIG.parent / "compose" / "openwebui-receiver.yaml"
    validate_config(collector_binary, [ROOT_CONFIG, RECEIVER_AUTH_OVERLAY, openwebui_receiver], env=TOKEN_ENV)
