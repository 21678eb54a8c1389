# SPDX-License-Identifier: Apache-2.0
"""Functions mode: Open WebUI's event loop never stalls more than 50 ms, whatever the body or the admin's pattern.

Open WebUI 0.12.4 calls a Function's sync hooks directly on its event loop thread
(``utils/filter.py``: ``await handler(**params)`` if ``inspect.iscoroutinefunction(handler)`` else
``handler(**params)``); ``tests.support.owui_hosts.FunctionHost`` calls the installed file the same way.
Here those calls carry 50 MB bodies (a UI turn, matched by its message id, and an API turn, matched by
fingerprints of its conversation) and a message that sends ``(\\w+\\s?)+$``, the worst admin pattern of the
finding, into catastrophic backtracking. A monitor task (``tests.support.loop_monitor``) sleeps 5 ms at a time: the
largest delay it spent on the CPU is the longest the loop was stalled (time the OS gave other processes of a
shared machine is not a stall). The spans still reach an OTLP
receiver, with the message redacted or replaced by the timeout mark, never as it was sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from otel_filter._redact import TIMEOUT_MARK
from tests.support.loop_monitor import LoopMonitor
from tests.support.otlp_sink import OtlpSink, ReceivedSpan
from tests.support.owui_hosts import FunctionHost, load_as_function

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WORST_PATTERN = r"(\w+\s?)+$"
MAX_STALL_S = 0.050  # what the issue asks
BODY_CHARS = 50_000_000
USER = {"id": "u-lag", "email": "lag@example.com", "name": "Lag", "role": "user"}


def _turn(index: int, api: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """(inlet body, outlet body, metadata, adversarial text) of a turn with a 50 MB message."""
    huge = ("lorem ipsum " * (BODY_CHARS // 12 + 1))[:BODY_CHARS]
    adversarial = f"{index}" + "a" * 6000 + "!"  # (\w+\s?)+$ backtracks for ever on this
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": huge},
        {"role": "assistant", "content": "Read it."},
        {"role": "user", "content": adversarial},
    ]
    message_id = None if api else f"lag-{index}"
    metadata: dict[str, Any] = {"chat_id": "" if api else f"chat-lag-{index}", "user_id": USER["id"]}
    if message_id:
        metadata["message_id"] = message_id
    inlet = {"model": "gpt-4o", "stream": False, "messages": messages, "metadata": metadata}
    reply = {"role": "assistant", "content": "Summary " + adversarial, "id": message_id or f"msg_{index}"}
    outlet = {"model": "gpt-4o", "id": reply["id"], "chat_id": metadata["chat_id"], "messages": [*messages, reply]}
    return inlet, outlet, metadata, adversarial


def test_hooks_with_50mb_bodies_and_the_worst_pattern_never_stall_the_loop() -> None:
    turns = [_turn(index, api=index % 2 == 1) for index in range(6)]  # built before the loop is watched
    with OtlpSink() as sink:
        instance, _ = load_as_function()
        host = FunctionHost(instance, valves={"otlp_endpoint": sink.endpoint, "redact_patterns": [WORST_PATTERN]})
        monitor = LoopMonitor()

        async def main() -> None:
            # One small turn first: the first hook call builds the export pipeline, whose OTLP exporter imports
            # `requests` (65-150 ms here). Open WebUI has imported it long before; a fresh test process has not.
            warm_up = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
            await host.call("inlet", warm_up, {"__user__": USER, "__metadata__": {"message_id": "warm-up"}})
            warm_reply = {"id": "warm-up", "role": "assistant", "content": "hello"}
            await host.call("outlet", {"id": "warm-up", "messages": [*warm_up["messages"], warm_reply]}, {})
            monitor.reset()
            await asyncio.sleep(0.2)  # the monitor's own baseline
            for inlet, outlet, metadata, _ in turns:
                extra = {"__user__": USER, "__metadata__": metadata}
                if "message_id" in metadata:
                    extra["__message_id__"] = metadata["message_id"]
                    extra["__chat_id__"] = metadata["chat_id"]
                assert await host.call("inlet", inlet, extra) is inlet
                await asyncio.sleep(0.05)  # the model answering
                assert await host.call("outlet", outlet, {"__user__": USER, "__metadata__": metadata}) is outlet
            deadline = time.monotonic() + 60
            while len(sink.spans) < len(turns) + 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the worker redacts and exports while the loop keeps running
            await monitor.stop()

        asyncio.run(main())
        instance._core().shutdown(10)  # Functions have no shutdown hook; the test stops its exporter
        health = instance.health.snapshot()
        spans: list[ReceivedSpan] = list(sink.spans)

    print(f"\n[loop-lag functions] {monitor.report()} health={health}")
    spans = [span for span in spans if span.attributes.get("openwebui.message.id") != "warm-up"]
    assert len(spans) == len(turns), health
    assert monitor.ticks > 100
    assert monitor.max_stall_s <= MAX_STALL_S, f"the loop stalled {monitor.max_stall_s * 1000:.1f} ms"
    assert health.get("redaction_timeouts", 0) >= len(turns)
    for span, (_, _, _, adversarial) in zip(sorted(spans, key=lambda s: s.start_ns), turns, strict=True):
        inputs = str(span.attributes["gen_ai.input.messages"])
        outputs = str(span.attributes["gen_ai.output.messages"])
        assert TIMEOUT_MARK in inputs and TIMEOUT_MARK in outputs
        assert adversarial[:40] not in inputs + outputs and "aaaaaaaaaaaaaaaa" not in str(span.attributes)
        assert "lorem ipsum" not in inputs  # redacted (the pattern matches it) or timed out, never as sent
