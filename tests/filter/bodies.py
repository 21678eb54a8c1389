# SPDX-License-Identifier: Apache-2.0
"""Minimal Open WebUI hook bodies for the filter's tests: an inlet and its outlet for one message.

await pipeline.inlet(inlet_body("m1"), USER)
await pipeline.outlet(outlet_body("m1", usage={"prompt_tokens": 3, "completion_tokens": 5}), USER)
"""

from __future__ import annotations

from typing import Any

USER = {"id": "u-1", "email": "ada@example.com", "name": "Ada", "role": "user"}

OLLAMA_RAW_USAGE = {
    "prompt_eval_count": 26,
    "eval_count": 298,
    "eval_duration": 4799921000,
    "total_duration": 5589157167,
    "response_token/s": 62.09,
    "approximate_total": "0h0m5s",
}
"""An Ollama reply's usage as Open WebUI 0.6.x passes it on untouched (26 input, 298 output tokens)."""


def inlet_body(
    message_id: str | None, chat_id: str = "chat-1", model: str = "gpt-4o", **metadata: Any
) -> dict[str, Any]:
    return {
        "model": model,
        "stream": True,
        "messages": [{"role": "user", "content": f"question for {message_id}"}],
        "metadata": {"chat_id": chat_id, "message_id": message_id, "user_id": USER["id"], **metadata},
    }


def outlet_body(message_id: str, chat_id: str = "chat-1", model: str = "gpt-4o", usage: Any = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": message_id, "role": "assistant", "content": "answer", "finish_reason": "stop"}
    if usage is not None:
        reply["usage"] = usage
    return {
        "model": model,
        "id": message_id,
        "chat_id": chat_id,
        "messages": [{"id": "q", "role": "user", "content": f"question for {message_id}"}, reply],
    }
