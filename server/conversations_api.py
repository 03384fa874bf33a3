"""Our conversation endpoints: list a project's past conversations, read, rename, delete one.

Beside the hosted API (the published SDK never calls them) and authenticated
per account like it: an account sees only its own conversations. The app's
conversation list uses them to reopen yesterday's conversation under the same
uuid, so the engine's history continues.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from protocol.names import name_problem
from server.http_common import ApiError, account_of, json_body, project_name, store_of
from server.store import StoreError

router = APIRouter()

MAX_PAGE = 200
MAX_TITLE = 200


def _uuid(value: str) -> str:
    if problem := name_problem(value, "uuid"):
        raise ApiError(400, problem)
    return value


def _page(request: Request) -> tuple[str, int, int]:
    params = request.query_params
    query = params.get("query", "").strip()
    try:
        limit = int(params.get("limit", "50"))
        offset = int(params.get("offset", "0"))
    except ValueError:
        raise ApiError(400, "limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ApiError(400, f"limit must be 1 to {MAX_PAGE} and offset 0 or more")
    return query, limit, offset


async def _in_store(call: Any, *args: Any) -> Any:
    try:
        return await call(*args)
    except StoreError as exc:
        raise ApiError(503, str(exc)) from None


@router.get("/distiller/conversations/{project}")
async def list_conversations(request: Request, project: str) -> dict[str, Any]:
    """``?query=words&limit=50&offset=0``, newest first; ``next_offset`` null on the last page."""
    account, name = account_of(request), project_name(project)
    query, limit, offset = _page(request)
    found = await _in_store(
        store_of(request).list_conversations, account, name, query, limit + 1, offset
    )
    return {
        "project": name,
        "conversations": [
            {
                "uuid": c.uuid,
                "title": c.title,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
                "questions": c.questions,
            }
            for c in found[:limit]
        ],
        "next_offset": offset + limit if len(found) > limit else None,
    }


@router.get("/distiller/conversations/{project}/{uuid}")
async def read_conversation(request: Request, project: str, uuid: str) -> dict[str, Any]:
    account, name, user = account_of(request), project_name(project), _uuid(uuid)
    entries = await _in_store(store_of(request).conversation, account, name, user)
    if not entries:
        raise ApiError(404, f"no conversation '{user}' with project '{name}'")
    return {
        "project": name,
        "uuid": user,
        "history": [
            {"role": e.role, "agent": e.agent, "text": e.text, "cut": e.cut} for e in entries
        ],
    }


@router.patch("/distiller/conversations/{project}/{uuid}")
async def rename_conversation(request: Request, project: str, uuid: str) -> dict[str, Any]:
    account, name, user = account_of(request), project_name(project), _uuid(uuid)
    title = (await json_body(request)).get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise ApiError(422, f"title must be text of 1 to {MAX_TITLE} characters")
    if not await _in_store(
        store_of(request).rename_conversation, account, name, user, title.strip()
    ):
        raise ApiError(404, f"no conversation '{user}' with project '{name}'")
    return {"project": name, "uuid": user, "title": title.strip()}


@router.delete("/distiller/conversations/{project}/{uuid}")
async def delete_conversation(request: Request, project: str, uuid: str) -> dict[str, Any]:
    account, name, user = account_of(request), project_name(project), _uuid(uuid)
    if not await _in_store(store_of(request).delete_conversation, account, name, user):
        raise ApiError(404, f"no conversation '{user}' with project '{name}'")
    return {"project": name, "uuid": user, "deleted": True}
