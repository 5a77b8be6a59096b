"""Microsoft Teams (Workflows / incoming webhook): a `message` carrying one Adaptive Card attachment."""

from __future__ import annotations

from typing import Any

from faultline.alerts.destinations.base import Message

CARD = "application/vnd.microsoft.card.adaptive"


def body(message: Message) -> dict[str, Any]:
    card_body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": message.headline, "wrap": True}
    ]
    if message.description:
        card_body.append({"type": "TextBlock", "text": message.description[:1000], "wrap": True})
    if message.frame:
        card_body.append({"type": "TextBlock", "text": message.frame[:300], "fontType": "Monospace", "wrap": True})
    facts = [{"title": k.replace("_", " "), "value": str(v)} for k, v in message.counts.items()]
    if message.release:
        facts.append({"title": "release", "value": message.release})
    if message.environment:
        facts.append({"title": "environment", "value": message.environment})
    if facts:
        card_body.append({"type": "FactSet", "facts": facts})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
        "actions": [{"type": "Action.OpenUrl", "title": "View issue", "url": message.link}],
    }
    return {"type": "message", "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}]}
