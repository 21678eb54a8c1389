# SPDX-License-Identifier: Apache-2.0
"""Token usage in every shape Open WebUI passes on -> semconv counts (pure, no OTel).

extract_usage({"prompt_tokens": 12, "completion_tokens": 5})        # Usage(input_tokens=12, output_tokens=5)
reply_usage(outlet_body["messages"][-1])                            # usage, info.usage or info
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_filter._values import as_count, as_dict, dig


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts in semconv terms: ``input`` includes cached tokens, ``output`` includes reasoning."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None

    def is_empty(self) -> bool:
        return self.input_tokens is None and self.output_tokens is None


_TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "prompt_tokens",
    "completion_tokens",
    "prompt_eval_count",
    "eval_count",
    "prompt_n",
    "predicted_n",
)


def _count(mapping: dict[str, Any], key: str) -> int | None:
    value = mapping.get(key)
    if type(value) is int:  # the usual case, checked first: this runs a dozen times per outlet
        return value if value >= 0 else None
    return None if value is None else as_count(value)


def _first_count(mappings: tuple[dict[str, Any], ...], key: str) -> int | None:
    """The first count under ``key`` in any of ``mappings``."""
    for mapping in mappings:
        value = _count(mapping, key)
        if value is not None:
            return value
    return None


def _first_key(mapping: dict[str, Any], *keys: str) -> int | None:
    """The count under the first of ``keys`` that ``mapping`` has one for."""
    for key in keys:
        value = _count(mapping, key)
        if value is not None:
            return value
    return None


_NO_DETAILS: dict[str, Any] = {}


def extract_usage(usage: object) -> Usage:
    """Every usage shape Open WebUI passes on -> semconv counts.

    Shapes: OpenAI (``prompt_tokens``/``completion_tokens`` + ``*_details``), 0.12's normalized
    form (adds ``input_tokens``/``output_tokens``), Ollama (``prompt_eval_count``/``eval_count``),
    llama.cpp (``prompt_n``/``cache_n``/``predicted_n``), the Responses API and Anthropic
    (``input_tokens``/``output_tokens``, ``cache_*_input_tokens``), DeepSeek
    (``prompt_cache_hit_tokens``). Semconv's input count includes cached tokens, so Anthropic's
    cache counts, which its ``input_tokens`` leaves out, are added back.
    """
    usage_map = as_dict(usage)
    if not usage_map:
        return Usage()
    prompt_details = as_dict(usage_map.get("prompt_tokens_details"))
    input_details = as_dict(usage_map.get("input_tokens_details")) or _NO_DETAILS
    completion_details = as_dict(usage_map.get("completion_tokens_details")) or _NO_DETAILS
    output_details = as_dict(usage_map.get("output_tokens_details")) or _NO_DETAILS
    input_side = (prompt_details or _NO_DETAILS, input_details)
    prompt = _count(usage_map, "prompt_tokens")
    input_tokens = _count(usage_map, "input_tokens")
    anthropic_read = _count(usage_map, "cache_read_input_tokens")
    anthropic_write = _count(usage_map, "cache_creation_input_tokens")
    cache_read = _first_count(input_side, "cached_tokens")
    if cache_read is None:
        cache_read = anthropic_read
    if cache_read is None:  # DeepSeek, generic, llama.cpp
        cache_read = _first_key(usage_map, "prompt_cache_hit_tokens", "cached_tokens", "cache_n")
    cache_creation = (
        anthropic_write if anthropic_write is not None else _first_count(input_side, "cache_creation_tokens")
    )
    if (anthropic_read is not None or anthropic_write is not None) and prompt_details is None:
        # Anthropic-style: input_tokens (or 0.12's copy of it in prompt_tokens) excludes the cache.
        base = input_tokens if input_tokens is not None else prompt
        total_input = None if base is None else base + (anthropic_read or 0) + (anthropic_write or 0)
    elif prompt is not None:
        total_input = prompt
    elif input_tokens is not None:
        total_input = input_tokens
    elif (eval_in := _count(usage_map, "prompt_eval_count")) is not None:
        total_input = eval_in
    elif (prompt_n := _count(usage_map, "prompt_n")) is not None:
        # llama.cpp: prompt_n counts the tokens it evaluated, cache_n the ones it reused.
        total_input = prompt_n + (_count(usage_map, "cache_n") or 0)
    else:
        total_input = None
    output = _first_key(usage_map, "completion_tokens", "output_tokens", "eval_count", "predicted_n")
    reasoning = _first_count((completion_details, output_details), "reasoning_tokens")
    if reasoning is None:
        reasoning = _count(usage_map, "reasoning_tokens")
    return Usage(
        input_tokens=total_input,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        # Providers report zero details for models that do not reason (0.12's Ollama conversion
        # always does): a zero there says nothing, so it is left out.
        reasoning_tokens=reasoning or None,
    )


def _has_token_keys(mapping: Mapping[str, Any] | None) -> bool:
    return mapping is not None and any(key in mapping for key in _TOKEN_KEYS)


def reply_usage(reply: Mapping[str, Any]) -> Usage:
    """Usage of an assistant message: ``usage`` (0.5+), else ``info.usage``, else ``info`` itself (pre-0.5)."""
    for candidate in (reply.get("usage"), dig(reply, "info", "usage"), reply.get("info")):
        candidate_map = as_dict(candidate)
        if _has_token_keys(candidate_map):
            return extract_usage(candidate_map)
    return Usage()
