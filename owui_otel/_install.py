# SPDX-License-Identifier: Apache-2.0
"""``owui-otel install``: put the filter into a running Open WebUI or Pipelines server, no copying by hand.

Function (Open WebUI's REST API, admin token; identical in 0.6.43 and 0.12.4)::

    install_function("http://localhost:3000", token, valves={"otlp_endpoint": "http://collector:4318"})

creates or updates the Function from the generated single file, makes it active and global
(toggles only when needed: they flip), merges the given valves into the stored ones, and reads
the record back. The Event function (ratings -> scores, Open WebUI >= 0.10) the same way, active, not global::

    install_event_function("http://localhost:3000", token, valves={"langfuse_host": "https://cloud.langfuse.com"})

Pipelines server (its API key)::

    install_pipelines("http://pipelines:9099", api_key, valves={...})

uploads the file, merges the valves and checks ``/models`` lists it as a filter. Every failure
raises :class:`OwuiOtelError` with what to fix; tokens never appear in messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from otel_filter import Valves, bundle
from otel_filter.event_function import EVENT_FUNCTION_ID, EVENT_FUNCTION_NAME, Event
from otel_filter.hosts import FILTER_NAME
from owui_otel import DEFAULT_FILTER_ID
from owui_otel._errors import OwuiOtelError, UsageError
from owui_otel._valve_check import check_valves

PIPELINE_FILE_NAME = "otel_filter_pipeline.py"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass
class InstallResult:
    target: str
    id: str
    created: bool
    details: dict[str, Any]


def parse_valves(items: list[str]) -> dict[str, Any]:
    """``key=value`` items; a value that parses as JSON (true, 3, ["a"]) is taken as such, else as text."""
    valves: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--valve {item!r}: not key=value. Fix: write it as key=value, e.g. --valve "
                "otlp_endpoint=http://localhost:4318. Until then: nothing was uploaded"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        valves[key.strip()] = value
    return valves


def filter_source(path: Path | None) -> str:
    """The single-file filter: the given file, else generated now from the installed package."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(
                f"--file {path}: cannot be read ({error.strerror or error}). Fix: give the path of a readable filter "
                "file, or drop --file to install the one generated from the package"
            ) from error
    return bundle.render()


def _request(client: httpx.Client, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise OwuiOtelError(
            f"--url {client.base_url}: cannot reach {what} there ({type(error).__name__}: {error}). Fix: start it, or "
            "give its address, e.g. --url http://localhost:3000 (Open WebUI) or http://localhost:9099 (Pipelines); "
            "is --url its address? Until then: nothing was installed"
        ) from error


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail") or body) if isinstance(body, dict) else str(body)[:300]


def _merge_valves(client: httpx.Client, valves_path: str, valves: Mapping[str, Any], what: str) -> None:
    """Merge ``valves`` over the stored ones: GET ``valves_path``, POST ``valves_path/update`` (same in both hosts)."""
    current = _request(client, "GET", valves_path, what)
    merged = {**(_json(current) if current.status_code == 200 else {}), **valves}
    updated = _request(client, "POST", f"{valves_path}/update", what, json=merged)
    if updated.status_code != 200:
        raise OwuiOtelError(
            f"--valve: {what} rejected the valves ({updated.status_code}: {_detail(updated)}). Fix: correct the "
            "valve it names, then install again. Until then: the filter is installed with its previous valves"
        )


# --- Open WebUI Functions ------------------------------------------------------------------


def install_function(
    url: str,
    token: str,
    *,
    function_id: str = DEFAULT_FILTER_ID,
    valves: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> InstallResult:
    """Create or update the filter as a global, active Open WebUI Function (see module docstring)."""
    return _install_open_webui_function(
        url,
        token,
        _FunctionKind(
            "filter", FILTER_NAME, "Every chat turn as an OpenTelemetry GenAI span", make_global=True, valves=Valves
        ),
        function_id=function_id,
        valves=valves,
        content=source if source is not None else filter_source(None),
    )


def install_event_function(
    url: str,
    token: str,
    *,
    function_id: str = EVENT_FUNCTION_ID,
    valves: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> InstallResult:
    """Create or update the Event function (ratings -> scores; Open WebUI >= 0.10) and make it active.

    Event functions receive events when active, global or not (Open WebUI's events.py selects type 'event' and
    is_active), so it is not made global. Open WebUI < 0.10 cannot load it: use ``owui-otel feedback sync`` there."""
    return _install_open_webui_function(
        url,
        token,
        _FunctionKind(
            "event",
            EVENT_FUNCTION_NAME,
            "Every rating as a score on the rated turn",
            make_global=False,
            valves=Event.Valves,
        ),
        function_id=function_id,
        valves=valves,
        content=source if source is not None else bundle.render_event_function(),
    )


@dataclass(frozen=True)
class _FunctionKind:
    plugin_type: str  # what Open WebUI detects from the module's class: "filter" or "event"
    name: str
    description: str
    make_global: bool
    valves: type[BaseModel]  # the valves this kind has: --valve is checked against them before any upload


def _install_open_webui_function(
    url: str,
    token: str,
    kind: _FunctionKind,
    *,
    function_id: str,
    valves: Mapping[str, Any] | None,
    content: str,
) -> InstallResult:
    check_valves(kind.valves, valves or {}, f"the {kind.name}")
    if not token:
        raise UsageError(
            "--token / OWUI_TOKEN: not set. Fix: pass an admin's token with --token or export OWUI_TOKEN (Open WebUI "
            "> Settings > Account). Until then: nothing was installed"
        )
    if not function_id.isidentifier():
        raise UsageError(
            f"--id {function_id!r}: not letters, digits and underscores only (Open WebUI's rule). Fix: e.g. --id "
            f"{DEFAULT_FILTER_ID}"
        )
    function_id = function_id.lower()
    what = "Open WebUI"
    with httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    ) as client:
        version = _request(client, "GET", "/api/version", what)
        if version.status_code != 200 or "version" not in _json(version):
            raise OwuiOtelError(
                f"--url {url}: does not look like Open WebUI (GET /api/version answered {version.status_code}). Fix: "
                "give Open WebUI's address, e.g. --url http://localhost:3000. Until then: nothing was installed"
            )
        me = _request(client, "GET", "/api/v1/auths/", what)
        if me.status_code in (401, 403):
            raise OwuiOtelError(
                "--token / OWUI_TOKEN: Open WebUI refused the token. Fix: use an admin's token (Settings > Account: "
                "the JWT, or an API key when ENABLE_API_KEYS is on). Until then: nothing was installed"
            )
        me.raise_for_status()
        if _json(me).get("role") != "admin":
            raise OwuiOtelError(
                f"--token / OWUI_TOKEN: the token belongs to {_json(me).get('name')!r}, who is not an admin. Fix: use "
                "an admin's token (installing Functions needs one). Until then: nothing was installed"
            )
        listing = _request(client, "GET", "/api/v1/functions/", what)
        listing.raise_for_status()
        exists = any(item.get("id") == function_id for item in listing.json())
        form = {
            "id": function_id,
            "name": kind.name,
            "content": content,
            "meta": {"description": kind.description, "manifest": {}},
        }
        path = f"/api/v1/functions/id/{function_id}/update" if exists else "/api/v1/functions/create"
        saved = _request(client, "POST", path, what, json=form)
        if saved.status_code != 200:
            raise OwuiOtelError(
                f"--url {url}: Open WebUI rejected the {kind.plugin_type} ({saved.status_code}: {_detail(saved)}). "
                "Fix: check Admin > Functions and Open WebUI's log for why; with --file, install the generated file "
                "instead. Until then: the previous version (if any) stays installed"
            )
        record = _json(_request(client, "GET", f"/api/v1/functions/id/{function_id}", what))
        flags = (
            (("is_active", "toggle"), ("is_global", "toggle/global"))
            if kind.make_global
            else (("is_active", "toggle"),)
        )
        for flag, toggle in flags:
            if not record.get(flag):
                _request(client, "POST", f"/api/v1/functions/id/{function_id}/{toggle}", what).raise_for_status()
        if valves:
            _merge_valves(client, f"/api/v1/functions/id/{function_id}/valves", valves, what)
        record = _json(_request(client, "GET", f"/api/v1/functions/id/{function_id}", what))
    if not (
        record.get("type") == kind.plugin_type
        and record.get("is_active")
        and (record.get("is_global") or not kind.make_global)
    ):
        raise OwuiOtelError(
            f"--id {function_id}: the Function was saved but is type={record.get('type')} "
            f"active={record.get('is_active')} global={record.get('is_global')}. Fix: switch it on (and global) in "
            "Admin > Functions. Until then: it records nothing"
        )
    return InstallResult(
        target="function",
        id=function_id,
        created=not exists,
        details={
            "open_webui": _json(version).get("version"),
            "type": kind.plugin_type,
            "is_active": True,
            "is_global": bool(record.get("is_global")),
        },
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- Pipelines server ----------------------------------------------------------------------


def install_pipelines(
    url: str,
    api_key: str,
    *,
    valves: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> InstallResult:
    """Upload the filter to a Pipelines server, merge valves, and check it is listed as a filter."""
    check_valves(Valves, valves or {}, f"the {FILTER_NAME}")
    if not api_key:
        raise UsageError(
            "--api-key / PIPELINES_API_KEY: not set. Fix: pass the Pipelines server's PIPELINES_API_KEY with "
            "--api-key, or export PIPELINES_API_KEY. Until then: nothing was uploaded"
        )
    content = source if source is not None else filter_source(None)
    pipeline_id = PIPELINE_FILE_NAME.removesuffix(".py")
    what = "the Pipelines server"
    with httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=TIMEOUT
    ) as client:
        models = _request(client, "GET", "/models", what)
        if models.status_code in (401, 403):
            raise OwuiOtelError(
                "--api-key / PIPELINES_API_KEY: the Pipelines server refused the API key. Fix: use the server's own "
                "PIPELINES_API_KEY. Until then: nothing was uploaded"
            )
        if models.status_code != 200 or not _json(models).get("pipelines"):
            raise OwuiOtelError(
                f"--url {url}: does not look like a Pipelines server (GET /models answered {models.status_code}). Fix: "
                "give its address, e.g. --url http://localhost:9099. Until then: nothing was uploaded"
            )
        files = {"file": (PIPELINE_FILE_NAME, content.encode("utf-8"), "text/x-python")}
        uploaded = _request(client, "POST", "/pipelines/upload", what, files=files)
        if uploaded.status_code != 200:
            raise OwuiOtelError(
                f"--url {url}: the Pipelines server rejected the upload ({uploaded.status_code}: {_detail(uploaded)}). "
                "Fix: see the server's log for why. Until then: nothing was installed"
            )
        listed = _json(_request(client, "GET", "/models", what)).get("data") or []
        entry = next((m for m in listed if m.get("id") == pipeline_id), None)
        if entry is None or (entry.get("pipeline") or {}).get("type") != "filter":
            raise OwuiOtelError(
                f"--url {url}: uploaded, but the server does not list {pipeline_id!r} as a filter: it probably failed "
                "to load (missing requirements?). Fix: read the server's log and PIPELINES_DIR/failed, install what "
                "is missing, upload again. Until then: no turn is traced"
            )
        if valves:
            _merge_valves(client, f"/{pipeline_id}/valves", valves, what)
    return InstallResult(target="pipelines", id=pipeline_id, created=True, details={"listed_as": "filter"})
