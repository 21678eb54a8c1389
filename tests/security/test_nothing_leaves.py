# SPDX-License-Identifier: Apache-2.0
"""Nothing leaves: a marker in every content field of every shape, checked in the bytes sent to Langfuse and Jaeger.

Markers (``MRK<4 digits>Q``, tests/support/planted.py) go into every non-identifier string of every recorded
Open WebUI fixture and into every field of hand-built turns covering each message, reply, tool-call and error
shape. A real filter sends the turns to the real collector, which fans out to the Langfuse contract endpoint
(OTLP/HTTP, through :class:`RecordingProxy`) and to Jaeger (OTLP/gRPC, through :class:`GrpcRecordingProxy`).
The bytes of the three hops are searched, in three phases:

* control: capture on, no pattern: every exported field's marker reaches Langfuse, and some reach Jaeger (so the
  searches below would see a leak); markers in fields that are never exported (unknown feature keys, inline
  image payloads, request metadata) reach neither;
* redacted: capture on with the pattern ``MRK\\d{4}Q``: no marker on any hop, and ``[REDACTED]`` where they were;
* off: capture off: no marker on any hop, no content attribute, the generic error description.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from otel_filter import Pipeline
from otel_filter._redact import ERROR_WITHOUT_CONTENT
from tests.support import planted
from tests.support.delivery import Delivery
from tests.support.grpc_capture import GrpcRecordingProxy
from tests.support.http_capture import RecordingProxy
from tests.support.stack import FAST_RETRY, Stack

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(300)]

USER = {"id": "u-planted", "email": "planted@example.com", "name": "Planted", "role": "user"}
CONTENT_KEYS = (b"gen_ai.input.messages", b"gen_ai.output.messages", b"gen_ai.system_instructions")


async def _send(pipeline: Pipeline, planter: planted.Planter, with_fixtures: bool) -> None:
    for inlet, outlet in planted.all_shapes_turns(planter, USER):
        await pipeline.inlet(inlet, USER)
        await pipeline.outlet(outlet, USER)
    await pipeline.inlet(planted.all_shapes_task(planter, USER), USER)
    if with_fixtures:
        for call in planted.planted_fixture_calls(planter):
            await getattr(pipeline, call.hook)(call.body, call.user)
    await pipeline.on_shutdown()  # ends what is still open and flushes: every span of the phase is sent


def _wait(predicate: Callable[..., bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _markers(bodies: list[bytes]) -> set[str]:
    found: set[str] = set()
    for body in bodies:
        found |= planted.find_markers(body.decode("utf-8", "replace"))
    return found


def test_no_planted_marker_reaches_langfuse_or_jaeger(
    stacks: Callable[..., Stack], pipelines: Callable[..., Pipeline], report: Callable[..., None]
) -> None:
    stack = stacks(jaeger=True, env=FAST_RETRY, start=False)
    phases: dict[str, dict[str, Any]] = {}
    jaeger_target = f"127.0.0.1:{stack.ports.jaeger_otlp_grpc}"
    with RecordingProxy(stack.langfuse_url) as to_langfuse, GrpcRecordingProxy(jaeger_target) as to_jaeger:
        stack.extra_env["LANGFUSE_HOST"] = to_langfuse.url
        stack.extra_env["JAEGER_OTLP_ENDPOINT"] = to_jaeger.address
        stack.start()
        with RecordingProxy(stack.otlp_http_endpoint) as to_collector:
            for phase, valves in (
                ("control", {}),
                ("redacted", {"redact_patterns": [planted.MARKER_PATTERN]}),
                ("off", {"capture_message_content": False}),
            ):
                start = (len(to_langfuse.bodies()), len(to_jaeger.bodies()), len(to_collector.bodies()))
                langfuse_before, jaeger_before = len(Delivery.of(stack).spans), to_jaeger.span_count()
                planter = planted.Planter()
                pipeline = pipelines(to_collector.url, **valves)
                asyncio.run(_send(pipeline, planter, with_fixtures=phase != "control"))
                sent = pipeline.health.get("spans_exported")
                langfuse_want, jaeger_want = langfuse_before + sent, jaeger_before + sent
                langfuse_ok = _wait(lambda want=langfuse_want: len(Delivery.of(stack).spans) >= want, 60)
                jaeger_ok = _wait(lambda want=jaeger_want: to_jaeger.span_count() >= want, 60)
                phases[phase] = {
                    "planter": planter,
                    "sent": sent,
                    "delivered": langfuse_ok and jaeger_ok,
                    "health": pipeline.health.snapshot(),
                    "langfuse": to_langfuse.bodies()[start[0] :],
                    "jaeger": to_jaeger.bodies()[start[1] :],
                    "collector": to_collector.bodies()[start[2] :],
                }

    for phase, got in phases.items():
        report(
            f"nothing-leaves.{phase}",
            spans=got["sent"],
            planted_markers=len(got["planter"].fields),
            langfuse_bytes=sum(map(len, got["langfuse"])),
            jaeger_bytes=sum(map(len, got["jaeger"])),
            markers_to_langfuse=len(_markers(got["langfuse"])),
            markers_to_jaeger=len(_markers(got["jaeger"])),
        )
        assert got["delivered"], (phase, got["health"])
        assert got["sent"] >= 8 and got["langfuse"] and got["jaeger"], phase

    control = phases["control"]
    planter = control["planter"]
    exported = set(planter.fields) - planter.never_exported
    missing = {m: planter.fields[m] for m in exported - _markers(control["langfuse"])}
    assert missing == {}, "the control must see every exported field in Langfuse's bytes"
    assert _markers(control["jaeger"]), "the control must see markers in Jaeger's bytes (stop sequences, errors ...)"
    hops = ("collector", "langfuse", "jaeger")
    assert not planter.never_exported & _markers([b for hop in hops for b in control[hop]])

    for phase in ("redacted", "off"):
        got = phases[phase]
        leaked = {hop: sorted(_markers(got[hop])) for hop in hops}
        fields = {hop: [got["planter"].fields[m] for m in markers] for hop, markers in leaked.items() if markers}
        assert fields == {}, f"{phase}: markers left the machine"

    redacted = phases["redacted"]
    assert any(b"[REDACTED]" in body for body in redacted["langfuse"])
    assert any(b"[REDACTED]" in body for body in redacted["jaeger"])  # status descriptions, stop sequences

    off = phases["off"]
    assert not any(key in body for body in off["langfuse"] + off["jaeger"] for key in CONTENT_KEYS)
    assert any(ERROR_WITHOUT_CONTENT.encode() in body for body in off["jaeger"])
    assert any(ERROR_WITHOUT_CONTENT.encode() in body for body in off["langfuse"])
