# SPDX-License-Identifier: Apache-2.0
"""`owui-otel` as a newcomer meets it: help everywhere, errors that name the fix, exit codes 0/1/2."""

from __future__ import annotations

from pathlib import Path

import pytest

from owui_otel.cli import main

pytestmark = pytest.mark.unit

COMMANDS = [
    [],
    ["up"],
    ["down"],
    ["demo"],
    ["serve"],
    ["install"],
    ["install", "function"],
    ["install", "pipelines"],
    ["doctor"],
    ["collector"],
    ["collector", "build"],
    ["collector", "config"],
]


@pytest.fixture(autouse=True)
def no_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OWUI_OTEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OWUI_OTEL_API_KEY", raising=False)
    monkeypatch.delenv("OWUI_TOKEN", raising=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "owui-otel")
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_no_command_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_serve_without_a_key_names_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve"]) == 2
    assert "OWUI_OTEL_API_KEY" in capsys.readouterr().err


def test_demo_without_a_stack_says_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 1
    assert "owui-otel up" in capsys.readouterr().err


def test_down_without_a_stack_stops_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down"]) == 0
    assert "nothing was running" in capsys.readouterr().out


def test_install_without_credentials_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "function", "--url", "http://127.0.0.1:9"]) == 2
    assert "--token / OWUI_TOKEN: not set" in capsys.readouterr().err
    assert main(["install", "function", "--url", "http://127.0.0.1:9", "--token", "t", "--valve", "novalue"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_up_refuses_langfuse_without_keys(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    assert main(["up", "--langfuse-host", "https://cloud.langfuse.com"]) == 1
    assert "LANGFUSE_PUBLIC_KEY" in capsys.readouterr().err
