# SPDX-License-Identifier: Apache-2.0
"""A deterministic OpenAI-compatible LLM for the end-to-end tests, serving the model ``gpt-4o-mini`` (so that turns
with usage get genai-prices' real price) and answering as ``gpt-4o-mini-2024-07-18``, as OpenAI does.

* ``GET /v1/models`` (also ``/models``): one model, ``gpt-4o-mini``.
* ``POST /v1/chat/completions`` (also ``/chat/completions``):

  - reply ``Hello from gpt-4o-mini. This is reply number N.`` with N = the number of user messages;
  - Open WebUI's task prompts (they ask for JSON with ``follow_ups``, ``tags``, ``queries`` or ``title``;
    the most specific marker is tested first) are answered with that JSON;
  - usage = whitespace word counts: ``prompt_tokens`` over every message text, ``completion_tokens`` over the reply;
  - streaming (SSE): a role chunk, one content chunk per word, a ``finish_reason: "stop"`` chunk, then, **only when
    the caller asked with ``stream_options.include_usage``** (as OpenAI does), a usage chunk
    ``{"choices": [], "usage": {...}}``, then ``data: [DONE]``;
  - non-streaming: one ``chat.completion`` JSON with usage, after as long as the stream would take;
  - ``--chunk-delay`` seconds before every chunk (so time to first chunk is measurable; the non-streaming answer
    waits as long in total);
  - magic words in the last user message: ``FAIL500`` -> HTTP 500 with an OpenAI error body, ``NOUSAGE`` -> no
    usage at all.

* ``GET /_requests``: every chat request so far, in order: ``{seq, path, stream, body, reply, usage,
  usage_sent, task, started_at, finished_at}``; ``DELETE /_requests`` forgets them; ``GET /_health``.

Run it as ``python -m tests.openwebui.mock_llm --host 127.0.0.1 --port 0 --chunk-delay 0.05`` (from the
repository root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MODEL_ID = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
"""The model a completion says answered, dated as OpenAI names it."""
CREATED = 1_700_000_000
# Open WebUI's default task prompts each end with "JSON format: { "<key>": ... }". Most specific first: a follow-up
# prompt quotes the chat history, which could mention a title.
TASK_MARKERS = (
    ('"follow_ups"', "follow_up_generation"),
    ('"tags"', "tags_generation"),
    ('"queries"', "query_generation"),
    ('"title"', "title_generation"),
)
TASK_REPLIES = {
    "follow_up_generation": {"follow_ups": ["Tell me more.", "Why is that?", "Give me an example."]},
    "tags_generation": {"tags": ["General", "Testing"]},
    "query_generation": {"queries": []},
    "title_generation": {"title": "Mock Conversation"},
}


def reply_text(messages: list[dict[str, Any]]) -> str:
    users = sum(1 for message in messages if isinstance(message, dict) and message.get("role") == "user")
    return f"Hello from {MODEL_ID}. This is reply number {users}."


def message_text(message: object) -> str:
    """The text of a message: a string content, or the text parts of a list content."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def words(text: str) -> int:
    return len(text.split())


def detect_task(last_user: str) -> str | None:
    for marker, task in TASK_MARKERS:
        if marker in last_user:
            return task
    return None


class RequestLog:
    """Every chat request, for the tests to see exactly what Open WebUI sent upstream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            record["seq"] = len(self._items) + 1
            self._items.append(record)
        return record

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(item) for item in self._items]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def create_app(chunk_delay: float = 0.05) -> FastAPI:
    app = FastAPI(title="mock-llm", docs_url=None, redoc_url=None, openapi_url=None)
    log = RequestLog()
    app.state.log = log

    @app.get("/_health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/_requests")
    async def requests() -> list[dict[str, Any]]:
        return log.all()

    @app.delete("/_requests")
    async def forget() -> dict[str, bool]:
        log.clear()
        return {"ok": True}

    @app.get("/v1/models")
    @app.get("/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": CREATED, "owned_by": "mock"}],
        }

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        messages = body.get("messages") or []
        last_user = next(
            (message_text(m) for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), ""
        )
        task = detect_task(last_user)
        text = json.dumps(TASK_REPLIES[task]) if task else reply_text(messages)
        prompt_tokens = sum(words(message_text(m)) for m in messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": words(text),
            "total_tokens": prompt_tokens + words(text),
        }
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        no_usage = "NOUSAGE" in last_user
        record = log.add(
            {
                "path": request.url.path,
                "headers": {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"},
                "stream": stream,
                "body": body,
                "task": task,
                "reply": text,
                "usage": usage,
                "usage_sent": (not no_usage) and (include_usage or not stream),
                "started_at": time.time(),
                "finished_at": None,
            }
        )
        if "FAIL500" in last_user:
            record.update(reply=None, usage_sent=False, finished_at=time.time())
            return JSONResponse(
                {"error": {"message": "mock failure (FAIL500)", "type": "server_error", "code": "mock_500"}},
                status_code=500,
            )
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        pieces = text.split(" ")
        chunks_total = len(pieces) + 2  # role chunk + one per word + finish chunk

        if not stream:
            await asyncio.sleep(chunk_delay * chunks_total)
            record["finished_at"] = time.time()
            answer: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": RESPONSE_MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            }
            if record["usage_sent"]:
                answer["usage"] = usage
            return JSONResponse(answer)

        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": RESPONSE_MODEL,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            return event([{"index": 0, "delta": delta, "finish_reason": finish_reason}])

        async def events() -> AsyncIterator[str]:
            await asyncio.sleep(chunk_delay)
            yield chunk({"role": "assistant", "content": ""})
            for index, piece in enumerate(pieces):
                await asyncio.sleep(chunk_delay)
                yield chunk({"content": piece if index == len(pieces) - 1 else piece + " "})
            await asyncio.sleep(chunk_delay)
            yield chunk({}, "stop")
            if record["usage_sent"]:
                yield event([], usage=usage)
            record["finished_at"] = time.time()
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds before every streamed chunk")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.chunk_delay), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
