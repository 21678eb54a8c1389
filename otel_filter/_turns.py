# SPDX-License-Identifier: Apache-2.0
"""Open turns: correlation of inlet, stream and outlet; expiry; bounded state. No OTel here.

A turn is opened at the main inlet and closed by its outlet. The key is the assistant
``message_id`` (what the outlet repeats as ``body["id"]``). Turns with no id at inlet (API
calls in 0.12: the outlet then carries a freshly generated ``msg_…`` id) are matched by, in
order: the very ``__metadata__`` object of the request (Functions mode), then among the open
id-less turns of the same user and chat, the one whose conversation the outlet repeats, whose
last user message it repeats, whose model it names, and finally the oldest.

State is bounded: at most ``max_open`` turns (the oldest is evicted beyond that) and each lives
``ttl_s`` seconds at most. Recently closed ids are remembered for a TTL so that a second outlet
(Open WebUI's deprecated ``/api/chat/completed``) is recognised instead of traced twice.

    >>> import time
    >>> from otel_filter._extract import extract_request, extract_result
    >>> user = {"id": "u1"}
    >>> asked = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
    ...          "metadata": {"chat_id": "c1", "message_id": "m1"}}
    >>> request = extract_request(asked, user)                                     # at inlet
    >>> tracker = TurnTracker(ttl_s=600, max_open=10_000)
    >>> tracker.open(OpenTurn(key=request.message_id, request=request, start_ns=time.time_ns(),
    ...                       deadline=time.monotonic() + 600))                   # (opened?, evicted)
    (True, [])
    >>> result = extract_result({"id": "m1", "chat_id": "c1", "model": "gpt-4o"}, user)  # at outlet
    >>> turn, status = tracker.close(result)  # status: MATCHED, DUPLICATE, LATE or ORPHAN
    >>> turn.key, status
    ('m1', 'matched')
    >>> tracker.close(result)[1]               # a second outlet for the same message
    'duplicate'
    >>> tracker.expire()                       # turns past their deadline, removed
    []
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Link

from otel_filter._extract import TurnRequest, TurnResult
from otel_filter._usage import Usage

MATCHED = "matched"
DUPLICATE = "duplicate"
LATE = "late"
ORPHAN = "orphan"

_CLOSED_BY_OUTLET = "outlet"
_CLOSED_BY_EXPIRY = "expired"


@dataclass(slots=True)
class OpenTurn:
    """One turn awaiting its outlet. Holds no SDK span: the span is created when the turn ends,
    with ``start_ns`` as its start time, so an open turn costs a few hundred bytes and a valve
    change can swap the export pipeline under it."""

    key: str
    request: TurnRequest
    start_ns: int
    deadline: float = 0.0
    metadata_id: int | None = None
    input_messages: list[Any] | None = None  # snapshot for gen_ai.input.messages, when content is captured
    first_chunk_ns: int | None = None
    last_chunk_ns: int | None = None  # when no outlet is expected, the turn ends here
    response_id: str | None = None
    response_model: str | None = None
    stream_finish_reason: str | None = None
    stream_usage: Usage | None = None
    links: tuple[Link, ...] = field(default=())
    parent: Context | None = None


def _score(turn: OpenTurn, result: TurnResult, fingerprints: tuple[int | None, int | None]) -> int:
    request = turn.request
    conversation, last_user = fingerprints
    score = 0
    if conversation is not None and conversation == request.conversation_fingerprint:
        score += 4
    if last_user is not None and last_user == request.last_user_fingerprint:
        score += 2
    if result.model_id is not None and result.model_id == request.model_id:
        score += 1
    return score


class TurnTracker:
    """Thread-safe map of open turns; see the module docstring."""

    def __init__(self, ttl_s: float, max_open: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._max_open = max_open
        self._clock = clock
        self._lock = threading.Lock()
        self._open: OrderedDict[str, OpenTurn] = OrderedDict()
        self._unkeyed: dict[tuple[str | None, str | None], list[str]] = {}
        self._by_metadata: dict[int, str] = {}
        self._closed: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._counter = itertools.count(1)

    def __len__(self) -> int:
        return len(self._open)

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def configure(self, ttl_s: float, max_open: int) -> list[OpenTurn]:
        """Apply new limits; returns the turns evicted because ``max_open`` shrank."""
        with self._lock:
            if ttl_s != self._ttl_s:
                shift = ttl_s - self._ttl_s
                for turn in self._open.values():
                    turn.deadline += shift
                self._ttl_s = ttl_s
            self._max_open = max_open
            return self._evict_over(max_open)

    def new_key(self, message_id: str | None) -> str:
        # "~" never starts an Open WebUI message id (uuid4 or "msg_<hex>").
        return message_id or f"~{next(self._counter)}"

    def open(self, turn: OpenTurn) -> tuple[bool, list[OpenTurn]]:
        """Track ``turn``; (added?, turns evicted to make room). A key already open is not replaced."""
        with self._lock:
            if turn.key in self._open:
                return False, []
            deadline = self._clock() + self._ttl_s
            # A turn adopted from a core this one replaces keeps the time it had left: a reload is no extension.
            turn.deadline = min(turn.deadline, deadline) if turn.deadline else deadline
            evicted = self._evict_over(self._max_open - 1)
            self._open[turn.key] = turn
            if turn.request.message_id is None:
                self._unkeyed.setdefault(self._bucket(turn.request.user_id, turn.request.chat_id), []).append(turn.key)
            if turn.metadata_id is not None:
                self._by_metadata[turn.metadata_id] = turn.key
            return True, evicted

    def for_stream(self, message_id: str | None, metadata_id: int | None) -> OpenTurn | None:
        """The open turn a stream event belongs to (by message id, else by its ``__metadata__``)."""
        if message_id is not None:
            turn = self._open.get(message_id)
            if turn is not None:
                return turn
        if metadata_id is not None:
            key = self._by_metadata.get(metadata_id)
            if key is not None:
                return self._open.get(key)
        return None

    def close(self, result: TurnResult, metadata_id: int | None = None) -> tuple[OpenTurn | None, str]:
        """Remove and return the turn ``result`` ends, with how it was found."""
        with self._lock:
            message_id = result.message_id
            turn = self._pop(message_id) if message_id is not None else None
            if turn is None and metadata_id is not None and metadata_id in self._by_metadata:
                turn = self._pop(self._by_metadata[metadata_id])
            if turn is None and message_id is not None and message_id in self._closed:
                status = DUPLICATE if self._closed[message_id][1] == _CLOSED_BY_OUTLET else LATE
                return None, status
            if turn is None:
                turn = self._best_unkeyed(result)
            self._remember(message_id, _CLOSED_BY_OUTLET)
            if turn is None:
                return None, ORPHAN
            self._remember(turn.key, _CLOSED_BY_OUTLET)
            return turn, MATCHED

    def expire(self, now: float | None = None, *, older_than_s: float | None = None) -> list[OpenTurn]:
        """Remove and return the turns whose deadline has passed (or, with ``older_than_s``, every
        turn open for at least that long: an operator ending stuck turns now)."""
        now = self._clock() if now is None else now
        cutoff = now if older_than_s is None else now - older_than_s + self._ttl_s
        expired: list[OpenTurn] = []
        with self._lock:
            while self._open:
                turn = next(iter(self._open.values()))
                if turn.deadline > cutoff:
                    break
                self._pop(turn.key)
                self._remember(turn.key, _CLOSED_BY_EXPIRY)
                expired.append(turn)
            while self._closed:
                key, (deadline, _) = next(iter(self._closed.items()))
                if deadline > now and len(self._closed) <= self._max_open:
                    break
                del self._closed[key]
        return expired

    def remove(self, keys: list[str]) -> list[OpenTurn]:
        """Remove and return the open turns with these keys (message ids); unknown keys are ignored."""
        with self._lock:
            removed = [turn for key in keys if (turn := self._pop(key)) is not None]
            for turn in removed:
                self._remember(turn.key, _CLOSED_BY_EXPIRY)
            return removed

    def drain(self) -> list[OpenTurn]:
        """Remove and return every open turn (shutdown)."""
        with self._lock:
            turns = list(self._open.values())
            self._open.clear()
            self._unkeyed.clear()
            self._by_metadata.clear()
            return turns

    # --- internals (lock held) ----------------------------------------------------------

    @staticmethod
    def _bucket(user_id: str | None, chat_id: str | None) -> tuple[str | None, str | None]:
        return user_id, chat_id or None

    def _pop(self, key: str) -> OpenTurn | None:
        turn = self._open.pop(key, None)
        if turn is None:
            return None
        if turn.request.message_id is None:
            bucket = self._bucket(turn.request.user_id, turn.request.chat_id)
            keys = self._unkeyed.get(bucket)
            if keys is not None:
                keys.remove(key)
                if not keys:
                    del self._unkeyed[bucket]
        if turn.metadata_id is not None and self._by_metadata.get(turn.metadata_id) == key:
            del self._by_metadata[turn.metadata_id]
        return turn

    def _best_unkeyed(self, result: TurnResult) -> OpenTurn | None:
        keys = self._unkeyed.get(self._bucket(result.user_id, result.chat_id))
        if not keys:
            return None
        # Highest score wins; among equals the oldest (keys are in arrival order).
        fingerprints = result.fingerprints()
        _, best_key = max(
            enumerate(keys), key=lambda item: (_score(self._open[item[1]], result, fingerprints), -item[0])
        )
        return self._pop(best_key)

    def _remember(self, message_id: str | None, how: str) -> None:
        if message_id is None or message_id.startswith("~"):
            return
        self._closed[message_id] = (self._clock() + self._ttl_s, how)
        self._closed.move_to_end(message_id)
        # Bounded here, not only by the sweeper: at thousands of turns a second the sweeper's interval
        # would let the map (and the process's memory) follow the busiest few seconds.
        while len(self._closed) > self._max_open:
            self._closed.popitem(last=False)

    def _evict_over(self, limit: int) -> list[OpenTurn]:
        evicted: list[OpenTurn] = []
        while len(self._open) > max(limit, 0):
            key = next(iter(self._open))
            turn = self._pop(key)
            if turn is not None:
                self._remember(key, _CLOSED_BY_EXPIRY)
                evicted.append(turn)
        return evicted
