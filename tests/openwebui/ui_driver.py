# SPDX-License-Identifier: Apache-2.0
"""One chat turn exactly as Open WebUI 0.12's web page sends it: a socket.io session, then
``POST /api/chat/completions`` with ``session_id``, ``id``/``message_ids``, ``user_message``, ``parent_id`` and
(for a new chat) ``background_tasks``; Open WebUI answers at once and streams the turn over the socket.

Runs with the **Open WebUI venv's** python (it has python-socketio and aiohttp; ours does not); it imports
nothing from this repository. The token comes from ``$OWUI_E2E_TOKEN``. Prints one JSON line::

    {"content", "chat_id", "message_id", "user_message_id", "reply", "event_types", "error", "started",
     "finished", "usage"}

after the socket said ``chat:active {active: false}`` for the chat (every background task done), or fails after
``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

import aiohttp
import socketio


def _data(event: dict[str, Any]) -> dict[str, Any]:
    """The ``{"type", "data"}`` of one socket ``events`` message."""
    data: dict[str, Any] = event.get("data") or {}
    return data


async def run(args: argparse.Namespace) -> dict[str, Any]:
    token = os.environ["OWUI_E2E_TOKEN"]
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "Mozilla/5.0 (owui-otel e2e ui_driver)"}
    events: list[dict[str, Any]] = []
    changed = asyncio.Event()

    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("events")
    async def on_event(data: dict[str, Any]) -> None:
        events.append(data)
        changed.set()

    async with aiohttp.ClientSession(base_url=args.url, headers=headers) as http:
        async with http.get("/api/models") as response:
            response.raise_for_status()
            models = (await response.json())["data"]
        model_item = next(m for m in models if m["id"] == args.model)
        async with http.get("/api/v1/auths/") as response:
            response.raise_for_status()
            me = await response.json()

        await sio.connect(
            args.url, socketio_path="/ws/socket.io", transports=["websocket"], auth={"token": token}, wait_timeout=20
        )
        try:
            await sio.emit("user-join", {"auth": {"token": token}})
            session_id = sio.get_sid()
            message_id = str(uuid.uuid4())
            user_message_id = str(uuid.uuid4())
            now = time.localtime()
            body: dict[str, Any] = {
                "stream": True,
                "model": args.model,
                "params": {"model_controls": {}},
                "tool_ids": [],
                "tool_servers": [],
                "features": {
                    "voice": False,
                    "image_generation": False,
                    "code_interpreter": False,
                    "web_search": False,
                    "memory": True,
                },
                "variables": {
                    "{{USER_NAME}}": me["name"],
                    "{{USER_EMAIL}}": me["email"],
                    "{{USER_LOCATION}}": "Unknown",
                    "{{CURRENT_DATETIME}}": time.strftime("%Y-%m-%d %H:%M:%S", now),
                    "{{CURRENT_DATE}}": time.strftime("%Y-%m-%d", now),
                    "{{CURRENT_TIME}}": time.strftime("%H:%M:%S", now),
                    "{{CURRENT_WEEKDAY}}": time.strftime("%A", now),
                    "{{CURRENT_TIMEZONE}}": "UTC",
                    "{{USER_LANGUAGE}}": "en-US",
                },
                "model_item": model_item,
                "session_id": session_id,
                "id": message_id,
                "message_ids": [{"model_id": args.model, "message_id": message_id, "modelIdx": 0}],
                "parent_id": args.parent_id or None,
                "user_message": {
                    "id": user_message_id,
                    "parentId": args.parent_id or None,
                    "childrenIds": [],
                    "role": "user",
                    "user": {"id": me["id"], "name": me["name"]},
                    "user_id": me["id"],
                    "content": args.content,
                    "timestamp": int(time.time()),
                    "models": [args.model],
                },
            }
            if args.chat_id:
                body["chat_id"] = args.chat_id
                body["background_tasks"] = {"follow_up_generation": True}
            else:
                body["chat_variables"] = {}
                body["background_tasks"] = {
                    "title_generation": True,
                    "tags_generation": True,
                    "follow_up_generation": True,
                }
            started = time.time()
            async with http.post("/api/chat/completions", json=body) as response:
                text = await response.text()
                if response.status != 200:
                    raise RuntimeError(f"POST /api/chat/completions: {response.status} {text[:1000]}")
                answer = json.loads(text)
            chat_id = answer.get("chat_id") or args.chat_id
            if not chat_id:
                raise RuntimeError(f"no chat_id in the answer: {answer}")

            def finished() -> bool:
                return any(
                    e.get("chat_id") == chat_id
                    and _data(e).get("type") == "chat:active"
                    and (_data(e).get("data") or {}).get("active") is False
                    for e in events
                )

            deadline = time.monotonic() + args.timeout
            while not finished():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    types = [_data(e).get("type") for e in events]
                    raise TimeoutError(f"no chat:active false for {chat_id} within {args.timeout}s; events: {types}")
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), timeout=min(remaining, 1.0))
                except TimeoutError:
                    pass
            ended = time.time()
        finally:
            await sio.disconnect()

    mine = [e for e in events if e.get("chat_id") == chat_id]
    reply = ""
    usage = None
    error = None
    for event in mine:
        data = _data(event)
        payload = data.get("data")
        if data.get("type") == "chat:completion" and isinstance(payload, dict):
            if isinstance(payload.get("content"), str):
                reply = payload["content"]
            if payload.get("done") and isinstance(payload.get("output"), list):
                # 0.12: the final event carries the reply as Responses-style output items.
                reply = "".join(
                    part.get("text", "")
                    for item in payload["output"]
                    if isinstance(item, dict) and item.get("type") == "message"
                    for part in item.get("content") or []
                    if isinstance(part, dict) and part.get("type") == "output_text"
                )
            if isinstance(payload.get("usage"), dict):
                usage = payload["usage"]
        if data.get("type") == "chat:message:error":
            error = json.dumps(payload)
    return {
        "content": args.content,
        "chat_id": chat_id,
        "message_id": message_id,
        "user_message_id": user_message_id,
        "reply": reply,
        "event_types": [_data(e).get("type") for e in mine],
        "error": error,
        "started": started,
        "finished": ended,
        "usage": usage,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--content", required=True)
    parser.add_argument("--chat-id", default="")
    parser.add_argument("--parent-id", default="")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
