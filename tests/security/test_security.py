# SPDX-License-Identifier: Apache-2.0
"""Security: credentials are required where they must be, and no secret or redacted text ever leaves.

* The receiver (with ``collector/overlays/receiver-auth.yaml``) and the bridge server refuse missing or wrong
  credentials, over every route and protocol.
* No secret (Langfuse keys, their Basic value, the ingest bearer token, the bridge API key) appears in anything a
  run produces: every file of every process's working directory (logs, configs, disk queue), every captured Python
  log record, the spans Langfuse and Jaeger stored, the raw bytes on both wires, and every HTTP error body.
* Redaction patterns remove what they match before export: the matched text is absent from the raw bytes the
  collector receives and the raw bytes Langfuse receives; the user's email is absent unless enabled.

The scanner is :mod:`tests.support.secret_scan` (reusable, e.g. for ``owui-otel doctor`` output).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from pathlib import Path
from urllib.parse import quote

import grpc  # type: ignore[import-untyped]  # no stubs unless types-grpcio is installed
import httpx
import pytest

from collector import langfuse_basic_auth
from tests.support.bridge_process import FILTER_ID, bridge_server
from tests.support.delivery import Delivery, collector_log, settle, wait_delivered, wait_for
from tests.support.fixtures import FaultRig
from tests.support.http_capture import RecordingProxy
from tests.support.secret_scan import assert_no_secrets, find_secrets, read_tree
from tests.support.spans import EXPORT_METHOD, PROTOBUF, otlp_request
from tests.support.stack import FAST_RETRY, RECEIVER_AUTH_OVERLAY, ROOT_CONFIG
from tests.support.turns import USER_EMAIL, HookStats, run_turn, stream_turns

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(150)]


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record down to DEBUG, so that a scan of the logs sees every line a run wrote."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _caplog_texts(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    texts = {"caplog": caplog.text}
    for index, record in enumerate(caplog.records):
        texts[f"log record {index} ({record.name})"] = f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
    return texts


# --- credentials are required ----------------------------------------------------------------------------------


def test_receiver_refuses_missing_and_wrong_bearer_tokens_over_http_and_grpc(
    rig: FaultRig,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    token = rig.secret("ingest-")
    stack = rig.stacks(configs=[ROOT_CONFIG, RECEIVER_AUTH_OVERLAY], env={**FAST_RETRY, "OTEL_INGEST_TOKEN": token})
    bodies: dict[str, bytes] = {}

    http_cases = {
        "missing": {},
        "wrong token": {"Authorization": f"Bearer {rig.secret('guess-')}"},
        "wrong scheme": {"Authorization": f"Basic {base64.b64encode(token.encode()).decode()}"},
        "token without scheme": {"Authorization": token},
    }
    statuses = {}
    for name, headers in http_cases.items():
        response = httpx.post(stack.otlp_http_traces_url, headers={**PROTOBUF, **headers}, content=otlp_request())
        statuses[name] = response.status_code
        bodies[f"http 401 body ({name})"] = response.content
    right = httpx.post(
        stack.otlp_http_traces_url,
        headers={**PROTOBUF, "Authorization": f"Bearer {token}"},
        content=otlp_request(span_id=b"\x07" * 8),
    )

    grpc_codes = {}
    with grpc.insecure_channel(stack.otlp_grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT_METHOD, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        for name, metadata in {
            "missing": (),
            "wrong token": (("authorization", f"Bearer {rig.secret('guess-')}"),),
            "right token": (("authorization", f"Bearer {token}"),),
        }.items():
            try:
                call(otlp_request(span_id=b"\x08" * 8), timeout=10, metadata=metadata)
                grpc_codes[name] = grpc.StatusCode.OK
            except grpc.RpcError as error:
                grpc_codes[name] = error.code()
                bodies[f"grpc details ({name})"] = (error.details() or "").encode()

    # The real filter: with the token it delivers, with a wrong one it counts and logs the failure.
    good = rig.pipelines(stack.otlp_http_endpoint, otlp_headers=f"authorization=Bearer%20{quote(token)}")
    bad = rig.pipelines(stack.otlp_http_endpoint, otlp_headers=f"authorization=Bearer%20{rig.secret('stale-')}")
    stats = HookStats()
    good_turns = asyncio.run(stream_turns(good, rig.turns, stats, count=5))
    bad_turns = asyncio.run(stream_turns(bad, rig.turns, stats, count=5))
    got = wait_delivered(stack, good_turns, timeout=30)
    wait_for(lambda: bad.health.get("spans_export_failed") >= 5, timeout=20, what="wrong-token exports failed")
    got = settle(stack, quiet_s=1.5)
    rig.report(
        "receiver-auth",
        http=json.dumps(statuses),
        http_right=right.status_code,
        grpc=json.dumps({k: v.name for k, v in grpc_codes.items()}),
        filter_good_delivered=len(good_turns) - len(got.missing(good_turns)),
        filter_bad_failed=bad.health.get("spans_export_failed"),
    )

    assert statuses == dict.fromkeys(http_cases, 401)
    assert right.status_code == 200
    assert grpc_codes == {
        "missing": grpc.StatusCode.UNAUTHENTICATED,
        "wrong token": grpc.StatusCode.UNAUTHENTICATED,
        "right token": grpc.StatusCode.OK,
    }
    assert got.missing(good_turns) == [] and stats.failures == []
    assert len(got.missing(bad_turns)) == len(bad_turns), "nothing from the wrong token gets in"
    assert bad.health.get("spans_export_failed") == len(bad_turns)
    texts: dict[str, str | bytes] = {**bodies, **_caplog_texts(debug_log), **read_tree(stack.workdir)}
    assert_no_secrets(texts, {"ingest token": token})


BRIDGE_ROUTES = [
    ("GET", "/"),
    ("GET", "/v1/"),
    ("GET", "/models"),
    ("GET", "/v1/models"),
    ("GET", "/pipelines"),
    ("POST", f"/{FILTER_ID}/filter/inlet"),
    ("POST", f"/v1/{FILTER_ID}/filter/outlet"),
    ("GET", f"/{FILTER_ID}/valves"),
    ("GET", f"/{FILTER_ID}/valves/spec"),
    ("POST", f"/{FILTER_ID}/valves/update"),
    ("POST", "/pipelines/add"),
    ("POST", "/admin/end-open-turns"),
]


def test_bridge_server_requires_its_api_key_on_every_route_but_health(rig: FaultRig, tmp_path: Path) -> None:
    stack = rig.stacks(env=FAST_RETRY)
    api_key = rig.secret("owui-otel-")
    turn = rig.turns.make()
    payload = {"body": turn.inlet, "user": turn.user}
    bodies: dict[str, bytes] = {}
    refused: dict[str, int] = {}
    with bridge_server(tmp_path / "bridge", api_key=api_key, otlp_endpoint=stack.otlp_http_endpoint) as bridge:
        for method, path in BRIDGE_ROUTES:
            for name, headers in {
                "missing": {},
                "wrong": {"Authorization": f"Bearer {rig.secret('guess-')}"},
                "not bearer": {"Authorization": f"Basic {base64.b64encode(api_key.encode()).decode()}"},
                "empty bearer": {"Authorization": "Bearer"},
            }.items():
                response = httpx.request(method, bridge.url + path, headers=headers, json=payload, timeout=10)
                refused[f"{method} {path} ({name})"] = response.status_code
                bodies[f"{method} {path} ({name})"] = response.content
        open_routes = {path: httpx.get(bridge.url + path, timeout=10) for path in ("/health", "/ready")}
        for path, response in open_routes.items():
            bodies[f"GET {path} (no key)"] = response.content
        # With the key the filter works and hands the body back untouched.
        inlet = httpx.post(f"{bridge.url}/{FILTER_ID}/filter/inlet", headers=bridge.auth, json=payload, timeout=10)
        outlet = httpx.post(
            f"{bridge.url}/{FILTER_ID}/filter/outlet",
            headers=bridge.auth,
            json={"body": turn.outlet, "user": turn.user},
            timeout=10,
        )
        got = wait_delivered(stack, [turn], timeout=30)
    rig.report(
        "bridge-auth",
        routes=len(BRIDGE_ROUTES),
        refused_401=sum(1 for status in refused.values() if status == 401),
        attempts=len(refused),
        delivered_with_key=got.distinct,
    )

    assert {key: status for key, status in refused.items() if status != 401} == {}
    assert all(response.status_code == 200 for response in open_routes.values())
    assert inlet.status_code == 200 and inlet.json() == turn.inlet
    assert outlet.status_code == 200 and outlet.json() == turn.outlet
    assert got.missing([turn]) == []
    texts = {**bodies, **read_tree(tmp_path / "bridge"), **read_tree(stack.workdir)}
    assert_no_secrets(texts, {"bridge api key": api_key})


def test_invalid_valves_error_does_not_echo_the_submitted_secret(rig: FaultRig, tmp_path: Path) -> None:
    """A valve update of the wrong shape is refused with a 422 naming the field, not repeating its value.

    Valves carry exporter headers (bearer tokens); an error body travels further than the request did (Open WebUI
    shows it to the admin, proxies log it).
    """
    stack = rig.stacks(env=FAST_RETRY)
    token = rig.secret("ingest-")
    with bridge_server(
        tmp_path / "bridge", api_key=rig.secret("owui-"), otlp_endpoint=stack.otlp_http_endpoint
    ) as bridge:
        response = httpx.post(
            f"{bridge.url}/{FILTER_ID}/valves/update",
            headers=bridge.auth,
            json={"otlp_headers": [f"authorization=Bearer {token}"]},  # a list where a string is expected
            timeout=10,
        )
    rig.report("valves-422", status=response.status_code, body_bytes=len(response.content))
    assert response.status_code == 422
    assert "otlp_headers" in response.text, "the error names the field"
    assert_no_secrets({"422 body": response.content, **read_tree(tmp_path / "bridge")}, {"ingest token": token})


# --- no secret leaves ------------------------------------------------------------------------------------------


def test_no_secret_in_any_log_span_payload_or_error_body(
    rig: FaultRig,
    tmp_path: Path,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    """A full run with every credential in use, and with every credential also used wrongly once."""
    public_key, secret_key, token, api_key = (
        rig.secret("pk-lf-"),
        rig.secret("sk-lf-"),
        rig.secret("ingest-"),
        rig.secret("owui-"),
    )
    wrong_secret_key = rig.secret("sk-lf-old-")
    secrets = {
        "langfuse public key": public_key,
        "langfuse secret key": secret_key,
        "langfuse basic auth": langfuse_basic_auth(public_key, secret_key),
        "ingest token": token,
        "bridge api key": api_key,
        "stale langfuse secret key": wrong_secret_key,
        "stale langfuse basic auth": langfuse_basic_auth(public_key, wrong_secret_key),
    }
    auth_env = {**FAST_RETRY, "OTEL_INGEST_TOKEN": token}
    stack = rig.stacks(
        jaeger=True,
        configs=[ROOT_CONFIG, RECEIVER_AUTH_OVERLAY],
        env=auth_env,
        public_key=public_key,
        secret_key=secret_key,
        start=False,
    )
    # A second collector configured with a stale Langfuse key: Langfuse answers 401 and the collector logs it.
    stale = rig.stacks(
        configs=[ROOT_CONFIG, RECEIVER_AUTH_OVERLAY],
        env=auth_env,
        public_key=public_key,
        secret_key=secret_key,
        start=False,
    )
    stale.extra_env["LANGFUSE_AUTH_B64"] = langfuse_basic_auth(public_key, wrong_secret_key)
    texts: dict[str, str | bytes] = {}
    with RecordingProxy(stack.langfuse_url) as to_langfuse:
        stack.extra_env["LANGFUSE_HOST"] = to_langfuse.url  # raw bytes collector -> Langfuse
        stack.start()
        stale.start()
        with (
            RecordingProxy(stack.otlp_http_endpoint) as to_collector,
            bridge_server(
                tmp_path / "bridge",
                api_key=api_key,
                otlp_endpoint=to_collector.url,  # raw bytes bridge -> collector
                env={"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{quote(token)}"},
            ) as bridge,
        ):
            sent = []
            for _ in range(5):
                turn = rig.turns.make()
                for hook, body in (("inlet", turn.inlet), ("outlet", turn.outlet)):
                    response = httpx.post(
                        f"{bridge.url}/{FILTER_ID}/filter/{hook}",
                        headers={**bridge.auth, "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"},
                        json={"body": body, "user": turn.user},
                        timeout=10,
                    )
                    assert response.status_code == 200, response.text
                sent.append(turn)
            for path in ("/models", f"/{FILTER_ID}/valves", "/admin/end-open-turns"):
                texts[f"bridge 401 body {path}"] = httpx.request(
                    "POST" if path.startswith("/admin") else "GET",
                    bridge.url + path,
                    headers={"Authorization": f"Bearer {api_key[:-1]}"},  # off by one character
                    timeout=10,
                ).content
            texts["bridge /health"] = httpx.get(f"{bridge.url}/health", timeout=10).content
            got = wait_delivered(stack, sent, timeout=30)
        # The stale collector tries, gets 401 from Langfuse, and logs it.
        one = rig.pipelines(stale.otlp_http_endpoint, otlp_headers=f"authorization=Bearer%20{quote(token)}")
        asyncio.run(stream_turns(one, rig.turns, HookStats(), count=2))
        wait_for(
            lambda: stale.collector_metric("otelcol_exporter_send_failed_spans") >= 2,
            timeout=30,
            what="stale key refused by Langfuse",
        )
        # A filter with a stale ingest token: the receiver refuses, the filter logs it.
        refused = rig.pipelines(stack.otlp_http_endpoint, otlp_headers=f"authorization=Bearer%20{rig.secret('stale-')}")
        asyncio.run(stream_turns(refused, rig.turns, HookStats(), count=2))
        wait_for(lambda: refused.health.get("spans_export_failed") >= 2, timeout=20, what="stale token refused")
        asyncio.run(refused.on_shutdown())
        asyncio.run(one.on_shutdown())
        got = settle(stack, quiet_s=1.5)
        jaeger_traces = {span["trace_id"]: stack.wait_for_jaeger_trace(span["trace_id"]) for span in got.spans}
        server_spans = httpx.get(
            f"{stack.jaeger_query_url}/api/traces", params={"service": "owui-otel-bridge", "limit": 100}, timeout=10
        )
        texts.update({f"jaeger trace {tid}": json.dumps(trace) for tid, trace in jaeger_traces.items()})
        texts["jaeger bridge server spans"] = server_spans.content
        texts["langfuse spans"] = json.dumps(stack.langfuse_received()["spans"])
        texts["stale langfuse rejections"] = json.dumps(stale.langfuse_received()["rejected"])
        texts.update({f"wire collector->langfuse #{i}": body for i, body in enumerate(to_langfuse.bodies())})
        texts.update({f"wire bridge->collector #{i}": body for i, body in enumerate(to_collector.bodies())})
    stack.stop()
    stale.stop()
    texts.update(read_tree(stack.workdir))
    texts.update(read_tree(stale.workdir))
    texts.update(read_tree(tmp_path / "bridge"))
    texts.update(_caplog_texts(debug_log))
    stale_log = collector_log(stale)
    rig.report(
        "secret-scan",
        sources=len(texts),
        scanned_bytes=sum(len(t) for t in texts.values()),
        secrets=len(secrets),
        turns_delivered=len(sent) - len(got.missing(sent)),
        jaeger_traces=len(jaeger_traces),
        bridge_server_spans=len(server_spans.json().get("data", [])),
        wire_requests=len(to_langfuse.captured) + len(to_collector.captured),
        leaks=len(find_secrets(texts, secrets)),
    )

    assert got.missing(sent) == []
    assert server_spans.json().get("data"), "the bridge's own spans reached Jaeger (so they were scanned)"
    assert "Status Code 401" in stale_log, "the stale-key collector really was refused (and its log was scanned)"
    assert_no_secrets(texts, secrets)


def test_credentials_in_the_endpoint_url_never_reach_a_log_line(
    rig: FaultRig,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    """``otlp_endpoint=http://user:password@host:4318`` (basic auth in the URL) must not be logged verbatim.

    The receiver here requires a bearer token, so every export fails and the filter reports the failure with the
    endpoint: the report must show the host, not the password.
    """
    password = rig.secret("url-password-")
    stack = rig.stacks(configs=[ROOT_CONFIG, RECEIVER_AUTH_OVERLAY], env={"OTEL_INGEST_TOKEN": rig.secret("ingest-")})
    pipeline = rig.pipelines(f"http://ingest:{password}@127.0.0.1:{stack.ports.otlp_http}")
    asyncio.run(stream_turns(pipeline, rig.turns, HookStats(), count=3))
    asyncio.run(pipeline.on_shutdown())
    messages = [record.getMessage() for record in debug_log.records if record.name.startswith("otel_filter")]
    rig.report("endpoint-userinfo", failed=pipeline.health.get("spans_export_failed"), filter_log_lines=len(messages))
    assert pipeline.health.get("spans_export_failed") == 3
    assert any("could not export" in message and "127.0.0.1" in message for message in messages)
    assert_no_secrets(_caplog_texts(debug_log), {"password in the endpoint URL": password})


# --- redaction and personal data -------------------------------------------------------------------------------


def test_redaction_removes_matches_before_export_and_the_email_stays_out(rig: FaultRig) -> None:
    api_key_in_chat = "sk-live-" + rig.secret("")  # what a user pastes into a chat
    ssn = "078-05-1120"
    patterns = [r"sk-live-[0-9a-f]{24}", r"\b\d{3}-\d{2}-\d{4}\b"]
    stack = rig.stacks(env=FAST_RETRY, start=False)
    with RecordingProxy(stack.langfuse_url) as to_langfuse:
        stack.extra_env["LANGFUSE_HOST"] = to_langfuse.url
        stack.start()
        with RecordingProxy(stack.otlp_http_endpoint) as to_collector:
            pipeline = rig.pipelines(to_collector.url, redact_patterns=patterns)
            stats = HookStats()
            content = f"My key is {api_key_in_chat} and my SSN is {ssn}, keep them safe"
            reply = f"I will not repeat {api_key_in_chat} or {ssn}."
            sent = [rig.turns.make(content=content, reply=reply) for _ in range(3)]
            for turn in sent:
                asyncio.run(run_turn(pipeline, turn, stats))
            task_body, task_user = rig.turns.title_task(content=content)
            asyncio.run(pipeline.inlet(task_body, task_user))  # the title task quotes the chat history
            got = wait_delivered(stack, sent, timeout=30)
            wait_for(lambda: len(Delivery.of(stack).spans) >= len(sent) + 1, timeout=20, what="task span delivered")
            got = settle(stack, quiet_s=1.5)
            wire = {f"collector->langfuse #{i}": body for i, body in enumerate(to_langfuse.bodies())}
            wire |= {f"filter->collector #{i}": body for i, body in enumerate(to_collector.bodies())}

            # Email: absent by default (it is also in the recorded metadata.variables), present when enabled.
            with_email = rig.pipelines(to_collector.url, record_user_email=True)
            opted_in = rig.turns.make()
            asyncio.run(run_turn(with_email, opted_in, stats))
            email_got = wait_delivered(stack, [opted_in], timeout=30)

    input_messages = [span["attributes"].get("gen_ai.input.messages", "") for span in got.spans]
    task_spans = [span for span in got.spans if span["attributes"].get("openwebui.task")]
    email_span = next(s for s in email_got.spans if s["attributes"].get("openwebui.message.id") == opted_in.message_id)
    rig.report(
        "redaction",
        turns=len(sent),
        task_spans=len(task_spans),
        wire_requests=len(wire),
        wire_bytes=sum(len(body) for body in wire.values()),
        redacted_markers=sum(body.count(b"[REDACTED]") for body in wire.values()),
        email_when_enabled=email_span["attributes"].get("user.email") == USER_EMAIL,
    )

    assert stats.failures == [] and got.missing(sent) == []
    assert len(task_spans) == 1
    assert all("[REDACTED]" in text for text in input_messages), "content was captured, with the matches replaced"
    assert any(b"[REDACTED]" in body for body in wire.values())
    assert_no_secrets(wire, {"pasted api key": api_key_in_chat, "ssn": ssn, "user email": USER_EMAIL})
    assert_no_secrets({"langfuse spans": json.dumps(got.spans)}, {"pasted api key": api_key_in_chat, "ssn": ssn})
    assert all("user.email" not in span["attributes"] for span in got.spans)
    assert email_span["attributes"].get("user.email") == USER_EMAIL, "the check above would have seen an email"
