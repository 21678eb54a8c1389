# SPDX-License-Identifier: Apache-2.0
"""A Pipelines server double following the upstream server (open-webui/pipelines ``main.py`` at commit 26b8f20).

The real server (open-webui/pipelines) is not published to any registry, so the project's tests
cannot install it; this double implements the documented routes the way upstream does, including
the part that matters most for an upload: the ``.py`` is saved, loaded with
``spec_from_file_location`` (not registered in ``sys.modules``), ``Pipeline()`` is instantiated,
``valves.json`` is overlaid, and a file that fails to load moves to ``failed/``.

Every change reloads the way upstream's ``reload()`` does (main.py, read at 26b8f20; no code
copied): ``on_shutdown`` awaited on every instance, the registry cleared, every top-level ``.py``
imported again and ``on_startup`` awaited on every new instance. Upload, add-from-URL and reload
do exactly that; delete first awaits ``on_shutdown`` of the deleted filter, removes its file,
then reloads (so that instance sees ``on_shutdown`` twice). The app's lifespan loads and starts
everything at startup and shuts everything down at exit, as upstream's.

    app = create_app(api_key="0p3n-w3bu!", directory=tmp_path)
    app.state.pipelines                    # id -> the live Pipeline instance (tests)
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import Body, FastAPI, File, Header, HTTPException, Request, UploadFile


def create_app(*, api_key: str, directory: Path) -> FastAPI:
    modules: dict[str, Any] = {}

    async def start_all() -> None:
        for candidate in sorted(directory.glob("*.py")):
            load(candidate)
        for pipeline in list(modules.values()):
            if hasattr(pipeline, "on_startup"):
                await pipeline.on_startup()

    async def shutdown_all() -> None:
        for pipeline in list(modules.values()):
            if hasattr(pipeline, "on_shutdown"):
                await pipeline.on_shutdown()

    async def reload() -> None:
        await shutdown_all()
        modules.clear()
        await start_all()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await start_all()
        yield
        await shutdown_all()

    app = FastAPI(lifespan=lifespan)
    app.state.pipelines = modules

    def check(authorization: str | None) -> None:
        if not authorization:
            raise HTTPException(status_code=403, detail="Not authenticated")
        if authorization.removeprefix("Bearer ") != api_key:
            raise HTTPException(status_code=401, detail="Invalid API key")

    def load(path: Path) -> None:
        name = path.stem
        valves_file = directory / name / "valves.json"
        valves_file.parent.mkdir(exist_ok=True)
        if not valves_file.exists():
            valves_file.write_text("{}")
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            pipeline = module.Pipeline()
        except Exception:
            (directory / "failed").mkdir(exist_ok=True)
            path.rename(directory / "failed" / path.name)
            modules.pop(name, None)
            return
        saved = json.loads(valves_file.read_text())
        pipeline.valves = pipeline.valves.__class__(**{**pipeline.valves.model_dump(), **saved})
        modules[getattr(pipeline, "id", name)] = pipeline

    @app.get("/models")
    async def models(authorization: str | None = Header(None)) -> dict[str, Any]:
        check(authorization)
        return {
            "data": [
                {
                    "id": pipeline_id,
                    "name": getattr(pipeline, "name", pipeline_id),
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "openai",
                    "pipeline": {
                        "type": getattr(pipeline, "type", "pipe"),
                        "pipelines": pipeline.valves.pipelines,
                        "priority": pipeline.valves.priority,
                        "valves": True,
                    },
                }
                for pipeline_id, pipeline in modules.items()
            ],
            "object": "list",
            "pipelines": True,
        }

    @app.post("/pipelines/upload")
    async def upload(
        file: Annotated[UploadFile, File()], authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        check(authorization)
        if not (file.filename or "").endswith(".py"):
            raise HTTPException(status_code=400, detail="Only Python files are allowed.")
        path = directory / (file.filename or "upload.py")
        path.write_bytes(await file.read())
        await reload()
        return {"status": True, "detail": f"Pipeline uploaded successfully to {path}"}

    @app.post("/pipelines/add")
    async def add(
        url: Annotated[str, Body(embed=True)], authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        check(authorization)
        name = Path(urlsplit(url).path).name
        if not name.endswith(".py"):
            raise HTTPException(status_code=400, detail="URL must point to a Python file")
        async with httpx.AsyncClient() as client:  # tests serve the file from 127.0.0.1
            response = await client.get(url)
        if response.status_code != 200:
            raise HTTPException(status_code=400, detail="Failed to download file")
        path = directory / name
        path.write_bytes(response.content)
        await reload()
        return {"status": True, "detail": f"Pipeline added successfully from {path}"}

    @app.delete("/pipelines/delete")
    async def delete(
        id: Annotated[str, Body(embed=True)],  # noqa: A002 (the upstream form field)
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        check(authorization)
        pipeline = modules.get(id)
        if pipeline is None:
            raise HTTPException(status_code=404, detail=f"Pipeline {id} not found")
        if hasattr(pipeline, "on_shutdown"):
            await pipeline.on_shutdown()
        (directory / f"{id}.py").unlink()
        await reload()
        return {"status": True, "detail": f"Pipeline {id} deleted successfully"}

    @app.post("/pipelines/reload")
    async def reload_route(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check(authorization)
        await reload()
        return {"message": "Pipelines reloaded successfully."}

    @app.get("/{pipeline_id}/valves")
    async def get_valves(pipeline_id: str) -> dict[str, Any]:  # upstream: no auth here
        if pipeline_id not in modules:
            raise HTTPException(status_code=404, detail=f"Pipeline {pipeline_id} not found")
        valves: dict[str, Any] = modules[pipeline_id].valves.model_dump()
        return valves

    @app.post("/{pipeline_id}/valves/update")
    async def update_valves(pipeline_id: str, request: Request) -> dict[str, Any]:  # upstream: no auth here
        if pipeline_id not in modules:
            raise HTTPException(status_code=404, detail=f"Pipeline {pipeline_id} not found")
        pipeline = modules[pipeline_id]
        valves = pipeline.valves.__class__(**(await request.json()))
        (directory / pipeline_id / "valves.json").write_text(json.dumps(valves.model_dump()))
        pipeline.valves = valves
        if hasattr(pipeline, "on_valves_updated"):
            await pipeline.on_valves_updated()
        result: dict[str, Any] = valves.model_dump()
        return result

    @app.post("/{pipeline_id}/filter/{hook}")
    async def run_filter(pipeline_id: str, hook: str, request: Request) -> dict[str, Any]:  # upstream: no auth
        if pipeline_id not in modules:
            raise HTTPException(status_code=404, detail=f"Filter {pipeline_id} not found")
        form = await request.json()
        body: dict[str, Any] = await getattr(modules[pipeline_id], hook)(form["body"], form.get("user"))
        return body

    return app
