# SPDX-License-Identifier: Apache-2.0
"""A contract double of the two admin endpoints of Open WebUI 0.12.4 that ``owui-otel doctor`` reads.

* ``GET /openai/config`` (``routers/openai.py``, admin only): ``ENABLE_OPENAI_API``, ``OPENAI_API_BASE_URLS``,
  ``OPENAI_API_KEYS`` (same order), ``OPENAI_API_CONFIGS`` (``{"<index>": {"prefix_id", "model_ids", ...}}``).
* ``GET /api/v1/functions/`` (``routers/functions.py``, ``response_model=list[FunctionResponse]``): ``id``,
  ``user_id``, ``type``, ``name``, ``meta``, ``is_active``, ``is_global``, ``updated_at``, ``created_at``.

Both answer 401 without ``Authorization: Bearer <token>`` (Open WebUI: 401 "Not authenticated"). The real Open WebUI
(tests/openwebui) takes about a minute to start; the doctor's checks need only these two answers.

    app = openwebui_admin(token, connections=[(bridge.url, key, {})], functions=[filter_function()])
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from otel_filter.hosts import FILTER_NAME
from owui_otel import DEFAULT_FILTER_ID


def filter_function(*, active: bool = True, is_global: bool = True) -> dict[str, Any]:
    """Our filter as ``owui-otel install function`` leaves it in Open WebUI's function list."""
    return {
        "id": DEFAULT_FILTER_ID,
        "user_id": "admin-id",
        "type": "filter",
        "name": FILTER_NAME,
        "meta": {"description": "Every chat turn as an OpenTelemetry GenAI span", "manifest": {}},
        "is_active": active,
        "is_global": is_global,
        "updated_at": 1795901825,
        "created_at": 1795901825,
    }


def openwebui_admin(
    token: str,
    *,
    connections: list[tuple[str, str, dict[str, Any]]],
    functions: list[dict[str, Any]] | None = None,
) -> FastAPI:
    app = FastAPI()

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {token}"

    @app.get("/openai/config")
    async def openai_config(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return JSONResponse(
            {
                "ENABLE_OPENAI_API": True,
                "OPENAI_API_BASE_URLS": [url for url, _, _ in connections],
                "OPENAI_API_KEYS": [key for _, key, _ in connections],
                "OPENAI_API_CONFIGS": {str(i): settings for i, (_, _, settings) in enumerate(connections)},
            }
        )

    @app.get("/api/v1/functions/")
    async def list_functions(request: Request) -> JSONResponse:
        if not authorized(request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return JSONResponse(functions or [])

    return app
