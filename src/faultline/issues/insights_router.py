"""What the issue page and the Releases page show beyond PostHog's endpoints, for API clients too:

* `GET …/error_tracking/issues/{id}/releases/` — first seen in, seen in releases, regression;
* `GET …/error_tracking/issues/{id}/breakdowns/` — shares by release, environment, browser, OS, URL, SDK; users;
* `GET …/error_tracking/seen_releases/` — releases events came from, with their issue counts (the Releases page);
* `GET|POST …/error_tracking/issues/{id}/comments/` — comments (also in the issue's `activity/`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import breakdowns, comments, tags
from faultline.issues.models import Issue

router = Router(tags=["error tracking: releases and breakdowns"])
READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")


class TagValue(BaseModel):
    value: str
    count: int = Field(description="Events of the issue with this value.")
    first_seen: dt.datetime
    last_seen: dt.datetime


class IssueReleases(BaseModel):
    first_seen_in: str | None = Field(description="Release of the issue's earliest event that named one.")
    regressed_in: str | None = Field(
        description="Release whose event reopened the resolved issue although the issue had never been seen in it."
    )
    releases: list[TagValue] = Field(description="Releases the issue was seen in, most recently seen first.")


class Share(BaseModel):
    value: str | None
    other: bool = Field(description="The row stands for every value not listed.")
    count: int
    share: float


class Dimension(BaseModel):
    key: str
    label: str
    exact: bool = Field(description="Counted over every event (true) or over the `sample` most recent ones.")
    values: list[Share]


class Users(BaseModel):
    total: int
    top: list[Share]


class Breakdowns(BaseModel):
    sample: int = Field(description="Most recent events counted for the sampled dimensions.")
    sample_limit: int
    dimensions: list[Dimension]
    users: Users


class SeenRelease(BaseModel):
    version: str
    issues: int = Field(description="Issues with at least one event from this release.")
    new_issues: int = Field(description="Issues first seen in this release.")
    events: int
    first_seen: dt.datetime
    last_seen: dt.datetime


class SeenReleases(BaseModel):
    results: list[SeenRelease]


def _issue(session: Session, ctx: ProjectContext, raw: str) -> Issue:
    parsed = parse_uuid(raw)
    issue = session.get(Issue, parsed) if parsed is not None else None
    if issue is None or issue.project_id != ctx.project_id:
        raise errors.not_found("Issue not found")
    return issue


@router.get(
    "/error_tracking/issues/{issue_id}/releases/",
    response_model=IssueReleases,
    summary="Releases an issue was seen in",
    responses={404: {"description": "No such issue in this project."}},
)
def issue_releases_endpoint(
    issue_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    issue = _issue(session, ctx, issue_id)
    return tags.issue_releases(session, issue.id, issue.regressed_in)


@router.get(
    "/error_tracking/issues/{issue_id}/breakdowns/",
    response_model=Breakdowns,
    summary="Where an issue happens: shares by release, environment, browser, OS, URL, SDK; affected users",
    responses={404: {"description": "No such issue in this project."}},
)
def issue_breakdowns(issue_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> Any:
    issue = _issue(session, ctx, issue_id)
    return breakdowns.as_json(breakdowns.breakdowns(session, issue.id, issue.occurrences, issue.users))


@router.get(
    "/error_tracking/seen_releases/",
    response_model=SeenReleases,
    summary="Releases events came from, newest first, with their issue counts",
)
def seen_releases_endpoint(ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> dict[str, Any]:
    return {"results": tags.seen_releases(session, ctx.project_id)}


class CommentIn(BaseModel):
    content: str = Field(description=f"Plain text, at most {comments.MAX_COMMENT_CHARS} characters.")


class CommentOut(BaseModel):
    id: uuid.UUID
    content: str
    created_at: dt.datetime
    user_id: int | None


class CommentList(BaseModel):
    results: list[CommentOut]


@router.get(
    "/error_tracking/issues/{issue_id}/comments/",
    response_model=CommentList,
    summary="Comments on an issue, newest first",
    responses={404: {"description": "No such issue in this project."}},
)
def list_comments(issue_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> Any:
    issue = _issue(session, ctx, issue_id)
    return {"results": comments.list_comments(session, ctx.project_id, issue.id)}


@router.post(
    "/error_tracking/issues/{issue_id}/comments/",
    response_model=CommentOut,
    status_code=201,
    summary="Comment on an issue (shown in its activity)",
    responses={404: {"description": "No such issue in this project."}},
)
def add_comment(
    issue_id: str, body: CommentIn, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION
) -> Any:
    issue = _issue(session, ctx, issue_id)
    return comments.add_comment(session, ctx.project_id, issue.id, ctx.user.id, body.content)
