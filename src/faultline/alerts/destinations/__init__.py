"""Where alerts go. One module per channel builds that service's documented request; `send` picks it.

Slack, Discord and Teams are sent with httpx to the incoming-webhook URL the user pasted, not through `apprise`:
apprise derives those requests' hosts from tokens (`slack://A/B/C` → hooks.slack.com), so they could not be checked
against a receiver on loopback, and a pasted URL is what these services document anyway. E-mail uses the standard
library's smtplib (what apprise's mail plugin wraps too).
"""

from __future__ import annotations

from faultline.alerts.destinations import discord, email, slack, teams, webhook
from faultline.alerts.destinations.base import Message, SendResult, Target, send_json

CHANNELS = ("slack", "discord", "teams", "webhook", "email")
HTTP_CHANNELS = ("slack", "discord", "teams", "webhook")


def send(target: Target, message: Message) -> SendResult:
    if target.channel_type == "email":
        return email.send(target, message)
    if target.channel_type == "webhook":
        raw, headers = webhook.request(target, message)
        return send_json(target, {}, headers, raw=raw)
    builders = {"slack": slack.body, "discord": discord.body, "teams": teams.body}
    build = builders.get(target.channel_type)
    if build is None:
        return SendResult(ok=False, error=f"unknown channel type {target.channel_type!r}", retry=False)
    return send_json(target, build(message), {})


__all__ = ["CHANNELS", "HTTP_CHANNELS", "Message", "SendResult", "Target", "send"]
