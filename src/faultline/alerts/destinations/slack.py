"""Slack incoming webhook: `{"text", "blocks"}` (Block Kit); `text` is the notification fallback."""

from __future__ import annotations

from typing import Any

from faultline.alerts.destinations.base import Message


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(message: Message) -> dict[str, Any]:
    lines = [f"*<{message.link}|{_escape(message.headline)}>*"]
    if message.description:
        lines.append(_escape(message.description[:500]))
    if message.frame:
        lines.append(f"`{_escape(message.frame[:300])}`")
    context = [*message.count_lines()]
    if message.release:
        context.append(f"release: {message.release}")
    if message.environment:
        context.append(f"environment: {message.environment}")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(" · ".join(context))[:2000]}]}
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "View issue"}, "url": message.link}],
        }
    )
    return {"text": f"{message.headline} ({message.project})", "blocks": blocks}
