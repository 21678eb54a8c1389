# SPDX-License-Identifier: Apache-2.0
"""`owui-otel install pipelines` against a server that follows the Pipelines contract.

The upstream Pipelines server is in no package registry, so it cannot be a test dependency; the
double (tests/support/pipelines_double.py) loads the uploaded file exactly as upstream does, so
this proves the generated file loads there, gets its valves merged, and exports a real turn.
(`install function` is tested against the real Open WebUI in tests/openwebui.)
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._install import filter_source, install_pipelines, parse_valves
from owui_otel.cli import main
from tests.cli.test_message_snapshots import check_snapshot
from tests.support.otlp_sink import OtlpSink, dead_endpoint
from tests.support.pipelines_double import create_app
from tests.support.scenarios import load
from tests.support.servers import ThreadServer

pytestmark = pytest.mark.integration

API_KEY = "pipelines-key-7c1e"


def test_upload_lists_the_filter_merges_valves_and_exports_turns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "pipelines"
    directory.mkdir()
    (directory / "otel_filter_pipeline").mkdir()
    # A valve saved earlier by an admin must survive the install.
    (directory / "otel_filter_pipeline" / "valves.json").write_text(json.dumps({"priority": 7}))
    with OtlpSink() as sink, ThreadServer(create_app(api_key=API_KEY, directory=directory)) as server:
        code = main(
            [
                "install",
                "pipelines",
                "--url",
                server.url,
                "--api-key",
                API_KEY,
                "--valve",
                f"otlp_endpoint={sink.endpoint}",
                "--valve",
                "record_tasks=false",
            ]
        )
        assert code == 0
        out = capsys.readouterr().out
        assert "listed as a filter" in out
        # What to do next, said every time: reload Open WebUI's page; one install, not two.
        assert "reload the Open WebUI page" in out and "Install one way, not two" in out
        check_snapshot("install-pipelines-uploaded", out.replace(server.url, "<pipelines-url>"))
        headers = {"Authorization": f"Bearer {API_KEY}"}
        (entry,) = httpx.get(f"{server.url}/models", headers=headers).json()["data"]
        assert entry["id"] == "otel_filter_pipeline" and entry["pipeline"]["type"] == "filter"
        valves = httpx.get(f"{server.url}/otel_filter_pipeline/valves").json()
        # on/off valves hold "true"/"false" ("": the environment decides); a posted false reads back "false"
        assert (valves["priority"], valves["otlp_endpoint"], valves["record_tasks"]) == (7, sink.endpoint, "false")
        for phase in ("inlet", "outlet"):
            recorded = load(f"pipelines_ui_stream_turn1_{phase}.json")
            response = httpx.post(f"{server.url}/otel_filter_pipeline/filter/{phase}", json=recorded)
            assert response.json() == recorded["body"]
        # Reinstalling (an upgrade) reloads the module: the old instance shuts down and flushes.
        assert main(["install", "pipelines", "--url", server.url, "--api-key", API_KEY]) == 0
        (span,) = sink.wait_for(1)
        assert span.name == "chat mock-gpt"
        assert span.attributes["openwebui.host"] == "pipelines"
        assert span.attributes["gen_ai.usage.output_tokens"] == 8


def test_wrong_key_and_unreachable_server_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadServer(create_app(api_key=API_KEY, directory=tmp_path)) as server:
        with pytest.raises(OwuiOtelError, match="refused the API key"):
            install_pipelines(server.url, "not-the-key")
        assert main(["install", "pipelines", "--url", server.url, "--api-key", "not-the-key"]) == 1
        error = capsys.readouterr().err
        assert "refused the API key" in error and "not-the-key" not in error
    unreachable = dead_endpoint()
    assert main(["install", "pipelines", "--url", unreachable, "--api-key", API_KEY]) == 1
    assert f"--url {unreachable}: cannot reach the Pipelines server there" in capsys.readouterr().err
    assert main(["install", "pipelines", "--url", unreachable]) == 2  # no key at all: a usage error


def test_a_file_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('missing dependency')\n")
    with ThreadServer(create_app(api_key=API_KEY, directory=tmp_path / "dir")) as server:
        (tmp_path / "dir").mkdir()
        with pytest.raises(OwuiOtelError, match="failed to load"):
            install_pipelines(server.url, API_KEY, source=broken.read_text())


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["otlp_endpoint=http://c:4318"], {"otlp_endpoint": "http://c:4318"}),
        (
            ["priority=3", "record_tasks=false", 'pipelines=["gpt-4o"]'],
            {"priority": 3, "record_tasks": False, "pipelines": ["gpt-4o"]},
        ),
        (["otlp_headers=authorization=Bearer%20x"], {"otlp_headers": "authorization=Bearer%20x"}),
    ],
)
def test_valve_arguments(items: list[str], expected: dict[str, object]) -> None:
    assert parse_valves(items) == expected


def test_a_malformed_valve_argument_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="key=value"):
        parse_valves(["otlp_endpoint"])


def test_what_gets_installed_is_the_committed_single_file() -> None:
    assert (
        filter_source(None)
        == (Path(__file__).resolve().parents[2] / "pipelines" / "otel_filter_pipeline.py").read_text()
    )
