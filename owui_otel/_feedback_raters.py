# SPDX-License-Identifier: Apache-2.0
"""Name a rating's rater the way the ``user_identity`` setting says, for ``feedback sync`` and the bridge's webhook.

Open WebUI's feedback records name their rater by ``user_id`` only. When the setting asks for ``email`` or
``username``, the rater is read from Open WebUI's users API (``GET /api/v1/users/{user_id}``, admin only; Open WebUI
0.12.4 ``routers/users.py`` ``get_user_by_id``: the user's record with ``email``, ``username`` and ``name``), once
per user and run. When that fails the rater stays the user id, and the reason is counted and logged once per run::

    raters = Raters(source.user, user_identity="email")   # source: OpenWebUIFeedbacks
    raters.new_run()
    record, named = raters.named(record)                   # record["user"] = {"id", "email", "username", "name"}
    raters.fallbacks                                       # Counter({"no such user in Open WebUI ...": 1})
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from otel_filter.settings import USER_IDENTITY_EMAIL, USER_IDENTITY_USERNAME

_log = logging.getLogger("owui_otel.feedback")
USERS_API = "/api/v1/users"
RATER_FIELDS = ("id", "email", "username", "name")
"""What a record's ``user`` gets from Open WebUI's user (``otel_filter.feedback`` reads email, or username then
name, as the filter names a turn's user)."""


class RaterUnknown(Exception):
    """The users API did not name the user; ``reason`` says why, ``whole_run``: no other user will fare better
    (the token may not read users, Open WebUI is unreachable), so the run stops asking."""

    def __init__(self, reason: str, *, whole_run: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.whole_run = whole_run


UserReader = Callable[[str], Mapping[str, Any]]
"""Open WebUI's user record by id; raises :class:`RaterUnknown`."""


class Raters:
    """Per-run cache of Open WebUI users, and the reasons a rater had to stay a user id."""

    def __init__(self, read_user: UserReader, *, user_identity: str) -> None:
        self._read_user = read_user
        self.user_identity = user_identity
        self._users: dict[str, Mapping[str, Any] | RaterUnknown] = {}
        self._stopped: RaterUnknown | None = None
        self.fallbacks: Counter[str] = Counter()

    @property
    def needed(self) -> bool:
        return self.user_identity in (USER_IDENTITY_EMAIL, USER_IDENTITY_USERNAME)

    def new_run(self) -> None:
        """Forget the users read and the reasons counted (users may be renamed between runs)."""
        self._users.clear()
        self._stopped = None
        self.fallbacks = Counter()

    def named(self, record: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
        """``record`` with ``user`` from Open WebUI when the setting needs more than the id (else unchanged), and
        whether the rater is named as the setting asks (False: it stays the user id, counted and logged)."""
        if not self.needed or self._has_wanted_field(record.get("user")):
            return record, True
        user_id = record.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            return record, True  # no rater at all: otel_filter.feedback names none
        found = self._user(user_id)
        if isinstance(found, RaterUnknown):
            self._fall_back(str(record.get("id")), found.reason)
            return record, False
        return {**record, "user": {key: found.get(key) for key in RATER_FIELDS}}, True

    def _has_wanted_field(self, user: object) -> bool:
        if not isinstance(user, Mapping):
            return False
        if self.user_identity == USER_IDENTITY_EMAIL:
            return bool(user.get("email"))
        return bool(user.get("username") or user.get("name"))

    def _user(self, user_id: str) -> Mapping[str, Any] | RaterUnknown:
        if self._stopped is not None:
            return self._stopped
        if user_id not in self._users:
            try:
                self._users[user_id] = self._read_user(user_id)
            except RaterUnknown as unknown:
                self._users[user_id] = unknown
                if unknown.whole_run:
                    self._stopped = unknown
        return self._users[user_id]

    def _fall_back(self, feedback_id: str, reason: str) -> None:
        if not self.fallbacks[reason]:
            _log.warning(
                "owui-otel: user_identity %s: the rater of feedback %s is named by user id: %s",
                self.user_identity,
                feedback_id,
                reason,
            )
        self.fallbacks[reason] += 1
