"""Log in and out.

The login form has no session yet, so its CSRF token is an HMAC of a random cookie nonce under the server secret:
a cross-site page can neither read the nonce nor compute the token, which stops login-CSRF (being silently logged
in to an attacker's account). Attempts are throttled per e-mail and per address: each one reserves its place in the
budget atomically before any password hash is computed (`throttle.reserve`); unknown e-mails cost the same hash
verification as known ones so timing does not reveal accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import secrets as creds
from faultline.accounts import service as accounts
from faultline.accounts.models import User
from faultline.db import utcnow
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.web import flash, sessions, throttle
from faultline.web.deps import csrf_form, read_form
from faultline.web.paths import safe_next
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

LOGIN_NONCE_COOKIE = "faultline_login"
# Verified against when the e-mail is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = creds.hash_password(secrets.token_urlsafe(16))
GENERIC_FAILURE = "E-mail or password is incorrect."


def _secure(request: Request) -> bool:
    return request.app.state.settings.public_url.startswith("https://")


def _login_token(request: Request, nonce: str) -> str:
    key = request.app.state.settings.secret_key.encode()
    return hmac.new(key, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _render_login(
    request: Request,
    *,
    next_url: str,
    email: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE) or ""
    if not (16 <= len(nonce) <= 64 and nonce.isascii()):
        nonce = secrets.token_urlsafe(24)
    context: dict[str, Any] = {
        "page_title": "Log in",
        "login_token": _login_token(request, nonce),
        "next_url": next_url,
        "email": email,
        "errors": errors or {},
    }
    response = get_templates(request).response(request, "login.html", context, status_code=status_code, headers=headers)
    response.set_cookie(
        LOGIN_NONCE_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax", secure=_secure(request), path="/login"
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if getattr(request.state, "web_session", None) is not None:
        return RedirectResponse(next_url, status_code=303)
    return _render_login(request, next_url=next_url)


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@router.post("/login")
def login_submit(request: Request, form: FormData = Depends(read_form)) -> Response:
    next_url = safe_next(_text(form, "next", 2000))
    email = _text(form, "email", 300).strip()
    password = _text(form, "password", 1000)
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE, "")
    given = _text(form, "login_token", 200)
    if not nonce or not hmac.compare_digest(_login_token(request, nonce), given):
        return _render_login(
            request,
            next_url=next_url,
            email=email,
            errors={"form": "Your login form expired or was not sent from this site. Please try again."},
            status_code=403,
        )
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your e-mail address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _render_login(request, next_url=next_url, email=email, errors=errors, status_code=400)

    db = get_db(request)
    address = _client_address(request)
    verdict = throttle.reserve(db, email, address)
    if not verdict.allowed:
        minutes = max(1, round(verdict.retry_after_seconds / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return _render_login(
            request,
            next_url=next_url,
            email=email,
            errors={"form": f"Too many failed attempts. Try again in about {wait}."},
            status_code=429,
            headers={"Retry-After": str(verdict.retry_after_seconds)},
        )

    with db.read() as session:
        try:
            user = accounts.get_user_by_email(session, email)
        except accounts.AccountError:
            user = None
    password_ok = creds.verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if user is None or not password_ok or not user.is_active or not user.password_hash:
        return _render_login(request, next_url=next_url, email=email, errors={"form": GENERIC_FAILURE}, status_code=400)

    with db.write() as session:
        throttle.succeeded(session, email, address)
        token, _active = sessions.create(session, user.id, ip=address, user_agent=request.headers.get("user-agent"))
        stored = session.get(User, user.id)
        if stored is not None:
            stored.last_login = utcnow()
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=int(sessions.MAX_AGE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, _form: FormData = Depends(csrf_form)) -> Response:
    active: sessions.ActiveSession = request.state.web_session
    with get_db(request).write() as session:
        sessions.end(session, active.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    flash.add(request, response, "You are signed out.", "info")
    return response
