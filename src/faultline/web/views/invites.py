"""Accepting an invitation link (`/invite/<token>`): choose a name and a password, then log in.

The page needs no session: the unguessable token in the URL is the credential, and accepting logs nobody in (the
new user logs in with the password just chosen), so a forged post could only create the account the link was for.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import invites
from faultline.accounts import service as accounts
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.web import flash, forms
from faultline.web.deps import read_form
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)


def _render(request: Request, token: str, *, errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    with get_db(request).read() as session:
        found = invites.find(session, token)
        context: dict[str, Any] = {"page_title": "Join", "errors": errors or {}, "token": token, "invite": None}
        if found is not None:
            invite, org = found
            context["invite"] = {"email": invite.email, "org": org.name, "expires_at": invite.expires_at}
    if found is None:
        status_code = 404
    return get_templates(request).response(request, "invite.html", context, status_code=status_code)


@router.get("/invite/{token}")
def invite_page(request: Request, token: str) -> Response:
    return _render(request, token)


@router.post("/invite/{token}")
def accept_invite(request: Request, token: str, form: FormData = Depends(read_form)) -> Response:
    password = forms.text(form, "password", 1000)
    if password != forms.text(form, "confirm_password", 1000):
        return _render(request, token, errors={"confirm_password": "The two passwords differ."}, status_code=400)
    try:
        with get_db(request).write() as session:
            email = invites.accept(session, token, password=password, first_name=forms.text(form, "name", 150))
    except invites.InviteError as exc:
        return _render(request, token, errors={"form": str(exc)}, status_code=400)
    except accounts.AccountError as exc:
        return _render(request, token, errors={exc.attr or "password": str(exc)}, status_code=400)
    response = RedirectResponse("/login", status_code=303)
    flash.add(request, response, f"Account {email} created. Log in with your new password.")
    return response
