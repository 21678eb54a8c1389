# SPDX-License-Identifier: Apache-2.0
"""The seed's approach, emulated: a turn traced through the Langfuse Python SDK as its v3 filter pipeline does.

Written for this benchmark from the behaviour of open-webui/pipelines
``examples/filters/langfuse_v3_filter_pipeline.py`` (PR #544, commit 039f9c5) and its follow-up fixes; no upstream
code is copied. The SDK installed here is langfuse 5.x, whose API differs from 3.x, so each v3 call is mapped to its
v5 equivalent.

Per hook, v3 filter call -> what is run here with the v5 API:

* inlet: ``chat_id`` from ``body.metadata`` (``local`` -> ``temporary-session-…``), model id/name remembered ->
  the same; like the seed, ``chat_id``/``type``/``interface`` are written into the body's metadata.
* inlet, first turn of a chat: ``start_span(name=f"chat:{chat_id}", input=body, metadata=…)`` then
  ``update_trace(user_id, session_id, tags, input, metadata)`` -> ``start_observation(name=f"chat:{chat_id}",
  input=body, metadata=…)`` inside ``propagate_attributes(user_id=email, session_id=chat_id, tags=…)`` (v5 has no
  ``update_trace``: trace-level user, session and tags are propagated attributes).
* inlet, every turn: a child span ``user_input:{uuid}`` with ``input=body["messages"]`` and metadata, ended at once
  -> ``root.start_observation(name=f"user_input:{uuid}", input=messages, metadata=…)`` then ``.end()``.
* outlet: ``update_trace(output=reply, metadata, tags)`` -> ``root.update(output=reply, metadata=…)``.
* outlet: ``start_generation(name, model, input=messages, output=reply, metadata)``, usage, ``end()`` ->
  ``root.start_observation(as_type="generation", name=…, model=…, input=messages, output=reply, metadata=…,
  usage_details={"input": …, "output": …})`` then ``.end()`` (``usage_details`` is the PR #586 fix: v0.0.1 passed
  ``usage=``, which SDK v3 ignores).
* PR #586 / rgaricano ``52ed930`` add ``trace.end()`` -> ``root.end()`` at the outlet and the chat's entry dropped,
  so every turn is one complete trace (root + user_input + generation) and state stays bounded (upstream v0.0.1
  never ends the root, so only the children would ever be exported).
* outlet: ``langfuse.flush()`` -> ``langfuse.flush()``: blocks until the SDK's exporter has posted the turn's spans
  to the sink and got the answer.

Not emulated (none of it is per turn, or it would only make the seed slower): ``auth_check()`` at startup, debug
``print`` of whole bodies (off here: ``debug=False``), the ``ValueError`` on missing keys, the outlet-without-state
path. The client gets its own ``TracerProvider`` (the seed lets the SDK install a global one; same exporter path).
"""

from __future__ import annotations

import uuid
from typing import Any

from langfuse import Langfuse, propagate_attributes
from opentelemetry.sdk.trace import TracerProvider


def _last_assistant(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in reversed(messages):
        if message.get("role") == "assistant":
            found: dict[str, Any] = message
            return found
    return {}


class SeedLangfuseFilter:
    """Synchronous inlet/outlet with the seed v3 filter's per-turn SDK calls (see the module docstring)."""

    def __init__(self, base_url: str, *, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer_provider = tracer_provider or TracerProvider()
        self.langfuse = Langfuse(
            public_key="pk-lf-bench",
            secret_key="sk-lf-bench",
            base_url=base_url,
            tracer_provider=self.tracer_provider,
            debug=False,
        )
        self.chat_traces: dict[str, Any] = {}
        self.model_names: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _tags(task_name: str) -> list[str]:
        tags = ["open-webui"]
        if task_name not in ("user_response", "llm_response"):
            tags.append(task_name)
        return tags

    def inlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        metadata = body.get("metadata", {})
        chat_id = metadata.get("chat_id", str(uuid.uuid4()))
        if chat_id == "local":
            chat_id = f"temporary-session-{metadata.get('session_id')}"
        metadata["chat_id"] = chat_id
        body["metadata"] = metadata
        model_info = metadata.get("model", {})
        names = self.model_names.setdefault(chat_id, {})
        names["id"] = body.get("model")
        if isinstance(model_info, dict) and "name" in model_info:
            names["name"] = model_info["name"]
        user_email = user.get("email") if user else None
        task_name = metadata.get("task", "user_response")
        tags = self._tags(task_name)
        trace_metadata = {**metadata, "user_id": user_email, "session_id": chat_id, "interface": "open-webui"}
        with propagate_attributes(user_id=user_email, session_id=chat_id, tags=tags):
            root = self.chat_traces.get(chat_id)
            if root is None:
                root = self.langfuse.start_observation(name=f"chat:{chat_id}", input=body, metadata=trace_metadata)
                self.chat_traces[chat_id] = root
            else:
                root.update(metadata=trace_metadata)
            metadata["type"] = task_name
            metadata["interface"] = "open-webui"
            event_metadata = {
                **metadata,
                "type": "user_input",
                "interface": "open-webui",
                "user_id": user_email,
                "session_id": chat_id,
                "event_id": str(uuid.uuid4()),
            }
            event = root.start_observation(
                name=f"user_input:{uuid.uuid4()}", as_type="span", input=body["messages"], metadata=event_metadata
            )
            event.end()
        return body

    def outlet(self, body: dict[str, Any], user: dict[str, Any] | None = None) -> dict[str, Any]:
        chat_id = body.get("chat_id")
        if chat_id == "local":
            chat_id = f"temporary-session-{body.get('session_id')}"
        root = self.chat_traces.pop(chat_id, None) if isinstance(chat_id, str) else None
        if root is None:
            return body
        metadata = body.get("metadata", {})
        task_name = metadata.get("task", "llm_response")
        tags = self._tags(task_name)
        reply_message = _last_assistant(body["messages"])
        reply = reply_message.get("content", "")
        usage_details = None
        usage = reply_message.get("usage", {})
        if isinstance(usage, dict):
            input_tokens = usage.get("prompt_eval_count") or usage.get("prompt_tokens")
            output_tokens = usage.get("eval_count") or usage.get("completion_tokens")
            if input_tokens is not None and output_tokens is not None:
                usage_details = {"input": input_tokens, "output": output_tokens}
        user_email = user.get("email") if user else None
        metadata["type"] = task_name
        metadata["interface"] = "open-webui"
        trace_metadata = {
            **metadata,
            "user_id": user_email,
            "session_id": chat_id,
            "interface": "open-webui",
            "task": task_name,
        }
        names = self.model_names.pop(str(chat_id), {})
        model_id = names.get("id", body.get("model"))
        model_name = names.get("name", "unknown")
        with propagate_attributes(user_id=user_email, session_id=chat_id, tags=tags):
            root.update(output=reply, metadata=trace_metadata)
            generation = root.start_observation(
                as_type="generation",
                name=f"llm_response:{uuid.uuid4()}",
                model=model_id,
                input=body["messages"],
                output=reply,
                metadata={
                    **trace_metadata,
                    "type": "llm_response",
                    "model_id": model_id,
                    "model_name": model_name,
                    "generation_id": str(uuid.uuid4()),
                },
                usage_details=usage_details,
            )
            generation.end()
        root.end()
        self.langfuse.flush()
        return body

    def shutdown(self) -> None:
        for root in self.chat_traces.values():
            root.end()
        self.chat_traces.clear()
        self.langfuse.shutdown()
