# SPDX-License-Identifier: Apache-2.0
"""Pure extraction: usage shapes, chat ids, providers, parameters, correlation fingerprints."""

from __future__ import annotations

from typing import Any

import pytest

from otel_filter._extract import (
    HostParams,
    derive_provider,
    extract_chunk,
    extract_request,
    extract_result,
    normalize_chat_id,
    normalize_finish_reason,
)
from otel_filter._usage import Usage, extract_usage, reply_usage
from tests.filter.bodies import OLLAMA_RAW_USAGE

pytestmark = pytest.mark.unit

# (shape, usage dict as Open WebUI passes it on, expected semconv counts)
USAGE_SHAPES: list[tuple[str, dict[str, Any], Usage]] = [
    (
        "openai raw with details",
        {
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 25, "audio_tokens": 0},
        },
        Usage(120, 40, cache_read_tokens=100, reasoning_tokens=25),
    ),
    (
        "0.12 normalized openai (fixtures)",
        {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12, "input_tokens": 4, "output_tokens": 8},
        Usage(4, 8),
    ),
    (
        "ollama raw (0.6.x)",
        OLLAMA_RAW_USAGE,
        Usage(26, 298),
    ),
    (
        "ollama via 0.12 convert_ollama_usage_to_openai",
        {
            "input_tokens": 26,
            "output_tokens": 298,
            "total_tokens": 324,
            "prompt_tokens": 26,
            "completion_tokens": 298,
            "response_token/s": 62.09,
            "prompt_token/s": "N/A",
            "total_duration": 5589157167,
            "load_duration": 0,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 0,
            "eval_count": 298,
            "eval_duration": 4799921000,
            "approximate_total": "0h0m5s",
            "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0},
        },
        Usage(26, 298),
    ),
    ("llama.cpp timings", {"prompt_n": 10, "cache_n": 30, "predicted_n": 7, "predicted_ms": 120.5}, Usage(40, 7, 30)),
    (
        "responses api",
        {
            "input_tokens": 50,
            "output_tokens": 20,
            "total_tokens": 70,
            "input_tokens_details": {"cached_tokens": 32},
            "output_tokens_details": {"reasoning_tokens": 12},
        },
        Usage(50, 20, cache_read_tokens=32, reasoning_tokens=12),
    ),
    (
        "anthropic (manifold pipe / 0.12 anthropic conversion): input excludes cache",
        {
            "input_tokens": 12,
            "output_tokens": 30,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 1000,
        },
        Usage(1212, 30, cache_read_tokens=1000, cache_creation_tokens=200),
    ),
    (
        "anthropic after 0.12 merge_usage (prompt_tokens copied from input_tokens)",
        {
            "input_tokens": 12,
            "output_tokens": 30,
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "total_tokens": 42,
            "cache_read_input_tokens": 1000,
        },
        Usage(1012, 30, cache_read_tokens=1000),
    ),
    (
        "openai-compatible proxy of anthropic (prompt_tokens already includes the cache)",
        {
            "prompt_tokens": 1212,
            "completion_tokens": 30,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
        },
        Usage(1212, 30, cache_read_tokens=1000, cache_creation_tokens=200),
    ),
    ("deepseek", {"prompt_tokens": 90, "completion_tokens": 9, "prompt_cache_hit_tokens": 64}, Usage(90, 9, 64)),
    ("only output", {"completion_tokens": 5}, Usage(None, 5)),
    ("garbage values", {"prompt_tokens": -3, "completion_tokens": True, "input_tokens": "x"}, Usage()),
    ("numeric strings and integral floats", {"prompt_tokens": "11", "completion_tokens": 4.0}, Usage(11, 4)),
    ("empty", {}, Usage()),
]


@pytest.mark.parametrize(("shape", "usage", "expected"), USAGE_SHAPES, ids=[s[0] for s in USAGE_SHAPES])
def test_usage_shapes(shape: str, usage: dict[str, Any], expected: Usage) -> None:
    assert extract_usage(usage) == expected


def test_reply_usage_prefers_usage_then_info_usage_then_info() -> None:
    assert reply_usage({"usage": {"prompt_tokens": 1, "completion_tokens": 2}}) == Usage(1, 2)
    assert reply_usage({"info": {"usage": {"prompt_tokens": 3, "completion_tokens": 4}}}) == Usage(3, 4)
    # Open WebUI before 0.5 kept Ollama's counters directly in ``info``.
    assert reply_usage({"info": {"prompt_eval_count": 5, "eval_count": 6}}) == Usage(5, 6)
    assert reply_usage({"info": None}) == Usage()


@pytest.mark.parametrize(
    ("chat_id", "session_id", "expected"),
    [
        ("5ebb5e33-e6c7", None, ("5ebb5e33-e6c7", "saved")),
        ("temporary:abc", None, ("abc", "temporary")),
        ("local:sid-1", None, ("sid-1", "temporary")),
        ("local", "sid-2", ("sid-2", "temporary")),
        ("local", None, (None, "temporary")),
        ("channel:c9", None, ("c9", "channel")),
        ("", None, (None, "none")),
        (None, None, (None, "none")),
    ],
)
def test_chat_id_forms(chat_id: str | None, session_id: str | None, expected: tuple[str | None, str]) -> None:
    assert normalize_chat_id(chat_id, session_id) == expected


@pytest.mark.parametrize(
    ("model", "model_id", "expected"),
    [
        ({"owned_by": "openai", "openai": {"owned_by": "mock"}}, "mock-gpt", ("openai", "mock")),
        ({"owned_by": "openai", "openai": {"owned_by": "system"}}, "gpt-4o", ("openai", "system")),
        ({"owned_by": "openai", "openai": {"owned_by": "anthropic"}}, "claude", ("anthropic", "anthropic")),
        ({"owned_by": "openai", "openai": {"owned_by": "vllm"}}, "mistralai/Mistral-7B", ("mistral_ai", "vllm")),
        ({"owned_by": "ollama", "ollama": {"name": "llama3.1:8b"}}, "llama3.1:8b", ("ollama", "ollama")),
        ({"owned_by": "arena"}, "arena-model", ("openwebui.arena", "arena")),
        ({"owned_by": "openai", "pipeline": {"type": "pipe"}}, "my_pipe", ("openwebui.pipeline", "openai")),
        (None, "gpt-4o", ("openwebui", None)),
    ],
)
def test_provider(model: dict[str, Any] | None, model_id: str, expected: tuple[str, str | None]) -> None:
    assert derive_provider(model, model_id) == expected


def test_custom_model_reports_its_base_model() -> None:
    body = {
        "model": "my-assistant",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {
            "model": {
                "id": "my-assistant",
                "name": "My Assistant",
                "owned_by": "openai",
                "preset": True,
                "info": {"base_model_id": "gpt-4o", "meta": {}},
            }
        },
    }
    request = extract_request(body, {"id": "u1"})
    assert request.request_model == "gpt-4o"
    assert request.model_id == "my-assistant"
    assert request.model_name == "My Assistant"


def test_request_parameters_openai_and_ollama_options() -> None:
    openai = extract_request(
        {
            "model": "m",
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 256,
            "seed": 7,
            "stop": "END",
            "n": 2,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "stream": True,
        }
    )
    assert (openai.temperature, openai.top_p, openai.max_tokens, openai.seed) == (0.2, 0.9, 256, 7)
    assert openai.stop_sequences == ("END",)
    assert openai.choice_count == 2
    assert (openai.frequency_penalty, openai.presence_penalty, openai.stream) == (0.5, -0.5, True)

    ollama = extract_request(
        {"model": "llama3", "options": {"temperature": 1, "num_predict": 64, "top_k": 40, "stop": ["a", "b"]}}
    )
    assert (ollama.temperature, ollama.max_tokens, ollama.top_k, ollama.stop_sequences) == (1.0, 64, 40.0, ("a", "b"))
    assert ollama.choice_count is None

    weird = extract_request({"model": "m", "temperature": "hot", "max_tokens": -1, "seed": True, "n": 1})
    assert (weird.temperature, weird.max_tokens, weird.seed, weird.choice_count) == (None, None, None, None)


def test_task_inlet_is_recognised_and_keyed_to_its_message() -> None:
    request = extract_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "### Task: ..."}],
            "metadata": {"task": "follow_up_generation", "task_body": {"message_id": "m-1"}, "chat_id": "c"},
        }
    )
    assert request.task == "follow_up_generation"
    assert request.message_id == "m-1"


def test_functions_dunders_fill_in_when_body_has_no_metadata() -> None:
    request = extract_request(
        {"model": "m"},
        {"id": "u"},
        params=HostParams(metadata={"chat_id": "c1", "session_id": "s"}, message_id="m9", model={"owned_by": "ollama"}),
    )
    assert (request.chat_id, request.message_id, request.provider) == ("c1", "m9", "ollama")


def test_outlet_result_and_fingerprints_match_the_inlet() -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
    ]
    request = extract_request({"model": "m", "messages": messages}, {"id": "u"})
    result = extract_result(
        {
            "model": "m",
            "id": "msg_1",
            "chat_id": "",
            "messages": [
                {"role": "user", "content": "hello", "id": None},
                {"role": "assistant", "content": "hi!", "finish_reason": "tool_calls", "usage": {"prompt_tokens": 2}},
            ],
        },
        {"id": "u"},
    )
    assert (request.conversation_fingerprint, request.last_user_fingerprint) == result.fingerprints()
    assert request.conversation_fingerprint is not None  # an inlet without message id is fingerprinted
    with_id = extract_request({"model": "m", "messages": messages, "metadata": {"message_id": "m1"}})
    assert with_id.conversation_fingerprint is None  # one with an id never needs to be
    assert (result.message_id, result.finish_reason, result.usage) == ("msg_1", "tool_call", Usage(2, None))


def test_outlet_error_message_is_read() -> None:
    result = extract_result({"messages": [{"role": "assistant", "content": "", "error": {"content": "429 quota"}}]})
    assert result.error_message == "429 quota"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stop", "stop"),
        ("tool_calls", "tool_call"),
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("LENGTH", "length"),
        ("", None),
        (3, None),
    ],
)
def test_finish_reasons(raw: object, expected: str | None) -> None:
    assert normalize_finish_reason(raw) == expected


def test_stream_chunks() -> None:
    role_only = extract_chunk({"id": "c1", "model": "m", "choices": [{"delta": {"role": "assistant", "content": ""}}]})
    assert role_only is not None and not role_only.has_output
    content = extract_chunk({"choices": [{"delta": {"content": "Hi"}, "finish_reason": None}]})
    assert content is not None and content.has_output
    tool = extract_chunk({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]})
    assert tool is not None and tool.has_output
    final = extract_chunk({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 8}})
    assert final is not None and final.usage == Usage(4, 8)
    assert extract_chunk("data: [DONE]") is None
