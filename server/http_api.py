"""The HTTP API: authentication, project create/download/validate, and our project listing."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from server.config_text import ConfigTextError, load_config_text
from server.http_common import ApiError, account_of, json_body, project_name, store_of
from server.llm.read_ahead import PROMPT_READING
from server.prepared_answer import PREPARED_ANSWERS
from server.project import ConfigInvalid, validate_config
from server.store import StoreError, StoreUnavailable

router = APIRouter()


def _version_number(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ApiError(400, f"project_version must be a whole number, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"project_version must be a whole number, not {value!r}") from None
    if number < 0 or str(number) != str(value).strip():
        raise ApiError(400, f"project_version must be a whole number, not {value!r}")
    return number


async def _config_object(value: Any) -> Any:
    """A config sent as an object, or as YAML/JSON text (as config/validate allows).

    Parsing up to a megabyte of YAML is CPU work: it runs in a thread so other
    sessions keep streaming meanwhile.
    """
    if isinstance(value, str):
        try:
            return await asyncio.to_thread(load_config_text, value)
        except ConfigTextError as exc:
            raise ApiError(422, str(exc)) from None
    return value


async def _validated(config: Any) -> None:
    await asyncio.to_thread(_validate_now, config)


def _validate_now(config: Any) -> None:
    try:
        validate_config(config)
    except ConfigInvalid as exc:
        raise ApiError(
            422, "invalid project configuration: " + "; ".join(exc.errors), errors=exc.errors
        ) from None
    except RecursionError:
        raise ApiError(422, "invalid project configuration: nested too deeply") from None


@router.post("/authentication/validate")
async def validate_key(request: Request) -> dict[str, str]:
    return {"organization_id": account_of(request)}


@router.post("/distiller/create", status_code=201)
async def create_project(request: Request) -> dict[str, Any]:
    account = account_of(request)
    body = await json_body(request)
    project = project_name(body.get("project"))
    if "config" not in body:
        raise ApiError(400, "missing field 'config'")
    config = await _config_object(body["config"])
    await _validated(config)
    try:
        version = await store_of(request).create_version(account, project, config)
    except StoreUnavailable as exc:
        raise ApiError(503, f"project '{project}' was not created: {exc}") from None
    except StoreError as exc:
        raise ApiError(507, f"project '{project}' was not created: {exc}") from None
    return {
        "project": project,
        "project_version": version.version,
        "created_at": version.created_at,
    }


@router.post("/distiller/download")
async def download_project(request: Request) -> dict[str, str]:
    account = account_of(request)
    body = await json_body(request)
    project = project_name(body.get("project"))
    version = _version_number(body.get("project_version"))
    found = await store_of(request).get_version(account, project, version)
    if found is None:
        raise ApiError(404, _not_found(project, version))
    # The hosted service encodes the config twice; the SDK decodes it twice.
    return {"config": json.dumps(json.dumps(found.config))}


@router.post("/distiller/config/validate")
async def validate_project_config(request: Request) -> dict[str, Any]:
    account_of(request)
    body = await json_body(request)
    if "config" not in body:
        raise ApiError(400, "missing field 'config'")
    await _validated(await _config_object(body["config"]))
    return {"message": "The configuration is valid."}


@router.get("/distiller/projects")
async def list_projects(request: Request) -> dict[str, Any]:
    account = account_of(request)
    projects = await store_of(request).list_projects(account)
    return {
        "projects": [
            {
                "name": p.name,
                "latest_version": p.latest_version,
                "version_count": p.version_count,
                "last_created_at": p.last_created_at,
            }
            for p in projects
        ]
    }


@router.get("/distiller/projects/{name}")
async def list_versions(request: Request, name: str) -> dict[str, Any]:
    account = account_of(request)
    project = project_name(name)
    versions = await store_of(request).list_versions(account, project)
    if not versions:
        raise ApiError(404, _not_found(project, None))
    entries = await asyncio.to_thread(lambda: [_version_entry(v.config) for v in versions])
    return {
        "name": project,
        "versions": [
            {"version": v.version, "created_at": v.created_at, **entry}
            for v, entry in zip(versions, entries, strict=True)
        ],
    }


@router.get("/healthz")
async def health(request: Request) -> Any:
    """Liveness, model status, and load: live sessions, asyncio tasks and threads.

    The counts let operators (and the leak tests) see that closed sessions leave
    no work behind; they say nothing about any account.
    """
    models = request.app.state.models
    if request.app.state.drain.draining:  # the load balancer stops sending users here
        return JSONResponse({"status": "draining"}, status_code=503)
    admission = request.app.state.admission
    return {
        "status": "ok",
        "models": models.status() if models is not None else {},
        "sessions": len(request.app.state.live_sessions),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "capacity": admission.status() if admission is not None else None,
        "prepared_answers": PREPARED_ANSWERS.status(),
        "llm_prompts": PROMPT_READING.status(),
    }


def _version_entry(config: dict[str, Any]) -> dict[str, Any]:
    """What the browser shows of a version: its agents, each flow in run order, voice or text.

    ``agents`` lists every agent (utility and super) as before; ``flows`` (ours)
    gives each super agent's steps in the order they run, so a client can
    tell the two apart.
    """
    try:
        spec = validate_config(config)
    except ConfigInvalid:  # stored under older rules: show what it names
        return {"agents": [], "flows": {}, "speech": "speech_config" in config}
    return {
        "agents": spec.agent_names,
        "flows": {name: list(flow.order()) for name, flow in spec.flows.items()},
        "speech": spec.has_speech_config,
    }


def _not_found(project: str, version: int | None) -> str:
    if version is None:
        return f"project '{project}' not found"
    return f"project '{project}' version {version} not found"
