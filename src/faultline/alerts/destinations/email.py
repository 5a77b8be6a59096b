"""E-mail over SMTP (`FAULTLINE_SMTP_URL`): a plain-text message to the destination's recipients."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from faultline.alerts.destinations.base import MAX_ERROR, Message, SendResult, Target


def compose(target: Target, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[{message.project}] {message.headline}"[:300]
    mail["From"] = target.smtp_from
    mail["To"] = ", ".join(target.config.get("recipients") or [])
    lines = [message.headline, ""]
    if message.description:
        lines += [message.description, ""]
    if message.frame:
        lines += [f"    {message.frame}", ""]
    lines += message.count_lines()
    if message.release:
        lines.append(f"release: {message.release}")
    if message.environment:
        lines.append(f"environment: {message.environment}")
    lines += ["", message.link]
    mail.set_content("\n".join(lines))
    return mail


def send(target: Target, message: Message) -> SendResult:
    if not target.smtp_url:
        return SendResult(ok=False, error="FAULTLINE_SMTP_URL is not set", retry=False)
    recipients = list(target.config.get("recipients") or [])
    if not recipients:
        return SendResult(ok=False, error="no recipients", retry=False)
    parts = urlsplit(target.smtp_url)
    host = parts.hostname or "localhost"
    started = time.monotonic()
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=target.timeout)
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=target.timeout)
        with client:
            client.ehlo()
            if parts.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls()
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(compose(target, message), to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR], duration_ms=elapsed)
    return SendResult(ok=True, duration_ms=int((time.monotonic() - started) * 1000))
