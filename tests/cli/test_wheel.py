# SPDX-License-Identifier: Apache-2.0
"""The shipped wheel holds only what users run, and it runs outside the repository.

Builds the wheel (hatchling, without build isolation: the dev extra installs it, so no download is needed),
installs it with the ``[cli]`` extra into a fresh venv in a temporary directory (dependencies pinned by
``constraints.txt``, so pip takes them from its cache when the dev venv was set up on this machine), then runs,
from a directory outside the checkout: ``owui-otel --help``, ``python -m collector config --exporters jaeger``
and one chat turn through the installed filter into a recording OTLP sink.

Takes about a minute (the venv and its ~60 dependencies); most of it is pip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.otlp_sink import OtlpSink

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PACKAGES = ("otel_filter", "collector", "owui_otel")
"""Top-level packages of the wheel (``[tool.hatch.build.targets.wheel] packages`` in pyproject.toml)."""
TEST_ONLY_NAMES = ("testing.py", "langfuse_contract", "otlp_decode", "otlp_sink", "conftest")
"""Names of the test doubles and harnesses (now in ``tests/support/``); none may be in the wheel."""

# One main chat turn as the Pipelines server sends it (inlet, then outlet with the reply).
_TURN = """
import asyncio, json, sys
import otel_filter
from otel_filter import Pipeline, Valves

async def turn() -> None:
    pipeline = Pipeline()
    pipeline.valves = Valves(otlp_endpoint=sys.argv[1])
    await pipeline.on_startup()
    user = {"id": "u-1", "name": "Ada", "role": "user"}
    inlet = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
             "metadata": {"chat_id": "chat-1", "message_id": "m-1", "user_id": "u-1"}}
    outlet = {"model": "gpt-4o", "id": "m-1", "chat_id": "chat-1",
              "messages": [{"id": "q", "role": "user", "content": "hi"},
                           {"id": "m-1", "role": "assistant", "content": "hello", "finish_reason": "stop"}]}
    same = (await pipeline.inlet(inlet, user)) is inlet and (await pipeline.outlet(outlet, user)) is outlet
    await pipeline.on_shutdown()
    print(json.dumps({"file": otel_filter.__file__, "same_bodies": same}))

asyncio.run(turn())
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    python: Path
    outside: Path  # a working directory outside the repository


def _run(argv: list[str], *, cwd: Path, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH, no repository on the path: only what the venv installed can be imported.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.is_relative_to(REPO_ROOT), "the fresh venv must live outside the repository"
    dist = root / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), "."],
        cwd=REPO_ROOT,
    )
    [wheel] = dist.glob("owui_otel-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        + ["-c", str(REPO_ROOT / "constraints.txt"), f"{wheel}[cli]"],
        cwd=root,
        timeout=600.0,
    )
    outside = root / "elsewhere"
    outside.mkdir()
    yield Installed(wheel=wheel, python=python, outside=outside)


def test_the_wheel_holds_only_the_shipped_packages(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    top_levels = {name.split("/", 1)[0] for name in names}
    dist_info = {level for level in top_levels if level.endswith(".dist-info")}
    assert top_levels - dist_info == set(SHIPPED_PACKAGES), sorted(names)
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/"))]
    doubles = [name for name in names if any(part in name for part in TEST_ONLY_NAMES)]
    assert doubles == [], f"test doubles in the wheel: {doubles}"
    # What users run is there: the CLIs, the collector's manifest and overlay, the filter.
    for expected in ("owui_otel/cli.py", "collector/cli.py", "collector/manifest.yaml", "otel_filter/hosts.py"):
        assert expected in names
    assert "collector/overlays/receiver-auth.yaml" in names


def test_owui_otel_help_runs_from_the_installed_wheel(installed: Installed) -> None:
    result = _run([str(installed.python.parent / "owui-otel"), "--help"], cwd=installed.outside)
    assert result.stdout.startswith("usage: owui-otel")
    for command in ("up", "down", "demo", "doctor", "install"):
        assert command in result.stdout


def test_collector_config_renders_from_the_installed_wheel(installed: Installed) -> None:
    command = [str(installed.python), "-m", "collector", "config", "--exporters", "jaeger"]
    result = _run(command, cwd=installed.outside)
    config = yaml.safe_load(result.stdout)
    assert list(config["exporters"]) == ["otlp_grpc/jaeger", "otlp_http/prometheus"]  # the usage metrics: on
    result = _run([*command, "--no-metrics"], cwd=installed.outside)
    config = yaml.safe_load(result.stdout)
    assert list(config["exporters"]) == ["otlp_grpc/jaeger"]
    assert {name: pipeline["exporters"] for name, pipeline in config["service"]["pipelines"].items()} == {
        "traces/jaeger": ["otlp_grpc/jaeger"]
    }


def test_the_installed_filter_traces_a_turn(installed: Installed) -> None:
    with OtlpSink() as sink:
        result = _run([str(installed.python), "-c", _TURN, sink.endpoint], cwd=installed.outside, timeout=120.0)
        [span] = sink.wait_for(1)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(installed.python.parent.parent), "imported from the fresh venv"
    assert report["same_bodies"] is True
    assert span.name == "chat gpt-4o"
    assert span.attributes["gen_ai.conversation.id"] == "chat-1"
