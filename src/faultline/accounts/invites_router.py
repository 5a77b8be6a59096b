"""`POST /api/organizations/{id}/invites/` — an invitation link for someone without an account (the web UI's
"Add or invite a member"): the same rules (`faultline.accounts.invites`), the link returned once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from faultline.accounts import invites, memberships
from faultline.accounts.access import Principal, require_scope
from faultline.accounts.models import MembershipLevel
from faultline.http import errors
from faultline.http.deps import WRITE_SESSION
from faultline.http.routing import Router
from faultline.ids import parse_uuid

router = Router(tags=["organizations"])


class InviteIn(BaseModel):
    target_email: str = Field(max_length=254)
    level: int = Field(MembershipLevel.MEMBER, description="1 member, 8 admin, 15 owner (PostHog's levels).")


class InviteOut(BaseModel):
    target_email: str
    level: int
    role: str
    expires_at: dt.datetime
    invite_url: str = Field(description="The one-time link; shown only in this answer.")


@router.post(
    "/api/organizations/{organization_id}/invites/",
    response_model=InviteOut,
    status_code=201,
    summary="Invite someone without an account to an organization",
    responses={404: {"description": "No such organization of yours."}},
)
def create_invite(
    organization_id: str,
    body: InviteIn,
    request: Request,
    principal: Principal = Depends(require_scope("organization:write")),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    org_id = parse_uuid(organization_id)
    level = memberships.level_of(session, org_id, principal.user.id) if org_id is not None else None
    if org_id is None or level is None or not principal.allows_organization(org_id):
        raise errors.not_found("Organization not found.")
    if body.level not in (MembershipLevel.MEMBER, MembershipLevel.ADMIN, MembershipLevel.OWNER):
        raise errors.validation_error("Level must be 1 (member), 8 (admin) or 15 (owner).", "level")
    actor = None if principal.user.is_staff else level
    invite = invites.create(
        session, org_id, body.target_email, body.level, actor_level=actor, created_by=principal.user.id
    )
    link = request.app.state.settings.public_url.rstrip("/") + f"/invite/{invite.token}"
    return {
        "target_email": invite.email,
        "level": body.level,
        "role": invite.role,
        "expires_at": invite.expires_at,
        "invite_url": link,
    }
