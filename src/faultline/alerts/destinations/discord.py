"""Discord webhook: `{"content", "embeds": [{title, description, url, color, fields}]}`."""

from __future__ import annotations

from typing import Any

from faultline.alerts.destinations.base import Message

RED = 0xE5484D


def body(message: Message) -> dict[str, Any]:
    description = message.description[:1000] if message.description else ""
    if message.frame:
        description += f"\n`{message.frame[:300]}`"
    fields = [{"name": k.replace("_", " "), "value": str(v), "inline": True} for k, v in message.counts.items()]
    if message.release:
        fields.append({"name": "release", "value": message.release[:1024], "inline": True})
    if message.environment:
        fields.append({"name": "environment", "value": message.environment[:1024], "inline": True})
    embed: dict[str, Any] = {
        "title": message.headline[:256],
        "url": message.link,
        "description": description.strip()[:4096],
        "color": RED,
        "fields": fields[:25],
    }
    return {"username": "Faultline", "content": f"{message.headline[:1900]} ({message.project})", "embeds": [embed]}
