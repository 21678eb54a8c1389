# SPDX-License-Identifier: Apache-2.0
"""Parsing of exporter names and generic OTLP target specs."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector import OtlpTarget, UsageError, parse_otlp_target, parse_otlp_targets
from collector._targets import parse_bool, parse_exporter_names

pytestmark = pytest.mark.unit


def test_a_target_is_a_backend_that_strips_content_unless_kept() -> None:
    target = parse_otlp_target("name=tempo,endpoint=http://tempo:4318")
    entry = target.backend()
    assert (entry.name, entry.pipeline_id, entry.exporter_id) == ("tempo", "traces/tempo", "otlp_http/tempo")
    assert entry.strips_content and not entry.persistent_queue
    assert parse_otlp_target("name=t,endpoint=t:4317,protocol=grpc,content=keep").backend().strips_content is False


def test_minimal_http_target() -> None:
    target = parse_otlp_target("name=tempo,endpoint=http://tempo:4318")
    assert target == OtlpTarget(name="tempo", endpoint="http://tempo:4318")
    assert target.exporter_id == "otlp_http/tempo"
    block = target.exporter_config()
    assert block["endpoint"] == "http://tempo:4318"
    assert block["compression"] == "gzip"
    assert "headers" not in block and "tls" not in block


def test_full_grpc_target_with_headers() -> None:
    target = parse_otlp_target(
        "name=peer,endpoint=peer:4317,protocol=grpc,insecure=true,content=keep,compression=zstd,"
        "header=Authorization=Bearer%20${env:PEER_TOKEN},header=x-scope=a%2Cb"
    )
    assert target.exporter_id == "otlp_grpc/peer"
    assert target.keep_content and target.insecure
    block = target.exporter_config()
    # Header keys are lower-cased (gRPC metadata rejects upper case); values are percent-decoded once.
    assert block["headers"] == {"authorization": "Bearer ${env:PEER_TOKEN}", "x-scope": "a,b"}
    assert block["tls"] == {"insecure": True}
    assert block["compression"] == "zstd"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("endpoint=http://x:4318", "name must be"),
        ("name=Tempo,endpoint=http://x:4318", "name must be"),
        ("name=jaeger,endpoint=http://x:4318", "reserved"),
        ("name=t", "endpoint is required"),
        ("name=t,endpoint=x:4318", "must start with http"),
        ("name=t,endpoint=http://x,protocol=udp", "protocol must be"),
        ("name=t,endpoint=http://x,content=maybe", "content must be"),
        ("name=t,endpoint=http://x,compression=brotli", "compression must be"),
        ("name=t,endpoint=http://x,colour=red", "unknown key 'colour'"),
        ("name=t,endpoint=http://x,header=novalue", "header=NAME=VALUE"),
        ("name=t,endpoint=http://x,insecure=perhaps", "is not true or false"),
        ("name=t,name=u,endpoint=http://x", "given twice"),
        ("name=t,endpoint", "not key=value"),
    ],
)
def test_bad_specs_explain_the_fix(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_otlp_target(spec)
    assert "Fix: write it as name=tempo,endpoint=http://tempo:4318" in str(info.value)


def test_many_targets_and_duplicates() -> None:
    targets = parse_otlp_targets("name=a,endpoint=http://a:4318; ;name=b,endpoint=b:4317,protocol=grpc")
    assert [t.exporter_id for t in targets] == ["otlp_http/a", "otlp_grpc/b"]
    with pytest.raises(UsageError, match="duplicated: a"):
        parse_otlp_targets("name=a,endpoint=http://a:4318;name=a,endpoint=http://b:4318")


@given(value=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_header_values_survive_percent_encoding(value: str) -> None:
    target = parse_otlp_target(f"name=t,endpoint=http://x:4318,header=x-v={quote(value, safe='')}")
    assert target.headers == (("x-v", value),)


def test_exporter_names() -> None:
    assert parse_exporter_names(" Langfuse, jaeger,,jaeger ") == ("langfuse", "jaeger")
    assert parse_exporter_names("") == ()
    with pytest.raises(UsageError, match="unknown exporter 'zipkin'.*--otlp"):
        parse_exporter_names("jaeger,zipkin")


@pytest.mark.parametrize(("raw", "expected"), [("TRUE", True), ("1", True), ("off", False), ("", False)])
def test_parse_bool(raw: str, expected: bool) -> None:
    assert parse_bool(raw, what="X") is expected
