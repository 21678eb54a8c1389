# SPDX-License-Identifier: Apache-2.0
"""Scan everything a run produced for secrets: logs, spans, payloads, HTTP error bodies.

Reusable (the ``doctor`` output scan will call it too)::

    from tests.support.secret_scan import assert_no_secrets, read_tree

    texts = {"collector.log": path.read_bytes(), "caplog": caplog.text, "401 body": response.content}
    texts |= read_tree(stack.workdir)                      # every file below a directory, by relative path
    assert_no_secrets(texts, {"langfuse secret key": sk, "ingest token": token})

A secret is found in its raw form and in the forms it takes on the way: URL-encoded (``OTEL_EXPORTER_OTLP_HEADERS``
values), JSON-escaped, base64 (HTTP Basic credentials), and as a fragment: any ``FRAGMENT`` consecutive characters
of it (error messages that shorten long values, e.g. pydantic's ``input_value='in...13f045'``, still give most of
a secret away). Matches are reported with the source, the secret's name and a little context, never the secret.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["Leak", "assert_no_secrets", "find_secrets", "read_tree", "secret_forms"]

MIN_SECRET_LENGTH = 8  # shorter values would match by chance; the suite's secrets are random and long
FRAGMENT = 16  # characters; random secrets make a 16-character coincidence impossible in practice


@dataclass(frozen=True)
class Leak:
    source: str
    secret: str  # the secret's name, not its value
    form: str
    context: str  # the surroundings, with the secret masked

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.source}: …{self.context}…"


def secret_forms(value: str) -> dict[str, bytes]:
    """The byte strings that give ``value`` away, by name of the encoding."""
    forms = {
        "raw": value,
        "url-encoded": quote(value, safe=""),
        "json-escaped": json.dumps(value)[1:-1],
        "base64": base64.b64encode(value.encode()).decode().rstrip("="),
    }
    return {name: text.encode() for name, text in forms.items()}


def _as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")


def find_secrets(texts: Mapping[str, str | bytes], secrets: Mapping[str, str]) -> list[Leak]:
    """Every occurrence (first per source, secret and form) of any secret in any text."""
    for name, value in secrets.items():
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret {name!r} is too short to scan for reliably ({len(value)} characters)")
    leaks: list[Leak] = []
    for source, text in texts.items():
        data = _as_bytes(text)
        for name, value in secrets.items():
            found = _first_match(data, value)
            if found is None:
                continue
            form, at, length = found
            before = data[max(at - 40, 0) : at].decode("utf-8", errors="replace")
            after = data[at + length : at + length + 40].decode("utf-8", errors="replace")
            leaks.append(Leak(source, name, form, f"{before}<{name}>{after}"))
    return leaks


def _first_match(data: bytes, value: str) -> tuple[str, int, int] | None:
    """(form, offset, length) of the first way ``value`` shows in ``data``: whole forms first, then fragments."""
    for form, needle in secret_forms(value).items():
        at = data.find(needle)
        if at >= 0:
            return form, at, len(needle)
    raw = value.encode()
    for start in range(len(raw) - FRAGMENT + 1) if len(raw) > FRAGMENT else ():
        at = data.find(raw[start : start + FRAGMENT])
        if at >= 0:
            return f"fragment of {FRAGMENT} characters", at, FRAGMENT
    return None


def assert_no_secrets(texts: Mapping[str, str | bytes], secrets: Mapping[str, str]) -> None:
    """Fail with every leak found (where, which secret, in which form)."""
    if not texts:
        raise AssertionError("nothing to scan: the test collected no output")
    leaks = find_secrets(texts, secrets)
    assert not leaks, "secret(s) leaked:\n" + "\n".join(f"  {leak}" for leak in leaks)


def read_tree(directory: Path, *, skip: Iterable[str] = ()) -> dict[str, bytes]:
    """Every regular file below ``directory`` (logs, configs, queue files), keyed by its relative path."""
    skipped = set(skip)
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        relative = str(path.relative_to(directory))
        if path.is_file() and relative not in skipped:
            files[f"{directory.name}/{relative}"] = path.read_bytes()
    return files
