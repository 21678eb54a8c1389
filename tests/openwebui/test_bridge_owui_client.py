# SPDX-License-Identifier: Apache-2.0
"""Bodies Python's ``json`` writes but a strict encoder refuses, sent to ``owui-otel serve`` the way Open WebUI
0.12.4 sends a filter call, with the HTTP client and JSON parser of its own venv.

Open WebUI (``open_webui/routers/pipelines.py``, ``process_pipeline_inlet_filter``/``..._outlet_filter``) posts
``{"user": ..., "body": payload}`` with ``aiohttp``'s ``json=`` (``json.dumps``), calls ``raise_for_status()`` (a
non-2xx fails the chat turn) and replaces the payload with ``await response.json()``. The script below does exactly
that in the Open WebUI venv's interpreter; every answer must be 200 and give back what was sent.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.otlp_sink import OtlpSink

from .harness import Bridge, start_bridge, stopping

pytestmark = pytest.mark.e2e

_CLIENT = r"""
import asyncio, json, sys
import aiohttp

url, key = sys.argv[1], sys.argv[2]
payloads = {
    "lone surrogates": {"model": "m", "messages": [{"role": "user", "content": "a\ud800b \udfff"}],
                        "metadata": {"message_id": "owui-client-1"}},
    "NaN and infinities": {"model": "m", "temperature": float("nan"), "top_p": float("inf"), "x": -float("inf"),
                           "messages": []},
    "1e400 (a float overflow)": {"model": "m", "v": 1e308 * 10, "messages": []},
    "4,300-digit integer": {"model": "m", "seed": int("9" * 4300), "messages": []},
    "900-deep nesting": {"model": "m", "deep": json.loads("[" * 900 + "]" * 900), "messages": []},
    "raw unicode": {"model": "m", "messages": [{"role": "user", "content": "h\u00e9llo \u4f60\u597d \U0001f44b"}]},
}
user = {"id": "u-1", "email": "a@example.com", "name": "A", "role": "user"}

async def main():
    results = {}
    async with aiohttp.ClientSession(trust_env=True) as session:
        for name, payload in payloads.items():
            for hook in ("inlet", "outlet"):
                async with session.post(f"{url}/otel_bridge/filter/{hook}", headers={"Authorization": f"Bearer {key}"},
                                        json={"user": user, "body": payload}) as response:
                    response.raise_for_status()
                    back = await response.json()
                    results[f"{name} ({hook})"] = [response.status, json.dumps(back) == json.dumps(payload)]
    print(json.dumps(results))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with OtlpSink() as sink:
        bridge = start_bridge(tmp_path_factory.mktemp("bridge-owui-client"), otlp_endpoint=sink.endpoint)
        with stopping(bridge):
            yield bridge


def test_open_webui_s_client_gets_every_body_back_as_it_sent_it(openwebui_binary: Path, bridge: Bridge) -> None:
    python = openwebui_binary.parent / "python"
    done = subprocess.run(
        [str(python), "-c", _CLIENT, bridge.url, bridge.api_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == 12
    assert {name: result for name, result in results.items() if result != [200, True]} == {}
