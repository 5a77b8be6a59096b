"""Alerts end to end on the real server: the real posthog-python SDK reports exceptions, the digest writes the
lifecycle rows, the deliverer sends them to receivers on loopback that check each service's documented request shape
(Slack Block Kit, Discord embeds, a Teams Adaptive Card message, a signed webhook) and to a real SMTP server."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from posthog import Posthog

from faultline.db import Database
from faultline.issues.models import NotificationOutbox
from tests.support.live_server import LiveServer, wait_until
from tests.support.receivers import HttpReceiver, SmtpInbox, http_receiver, smtp_server

pytestmark = pytest.mark.slow

PUBLIC_URL = "https://faultline.example.test"


class PaymentDeclined(Exception):
    pass


class FlakyError(Exception):
    pass


class RestartError(Exception):
    pass


def charge(user: str) -> None:
    raise PaymentDeclined(f"card of {user} declined")


def flaky() -> None:
    raise FlakyError("sometimes")


def restart() -> None:
    raise RestartError("after restart")


def caught(fn, *args) -> BaseException:
    try:
        fn(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


class Env:
    def __init__(self, server: LiveServer, receiver: HttpReceiver, inbox: SmtpInbox, creds: dict[str, str]) -> None:
        self.server = server
        self.receiver = receiver
        self.inbox = inbox
        self.creds = creds

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.creds['api_key']}"}

    @property
    def base(self) -> str:
        return f"{self.server.url}/api/environments/{self.creds['project_id']}/error_tracking"

    def report(self, exc: BaseException, **properties: Any) -> None:
        client = Posthog(self.creds["project_token"], host=self.server.url, sync_mode=True, max_retries=1)
        client.capture_exception(exc, distinct_id="alice", properties=properties)
        client.shutdown()

    def create_alert(self, exc_type: str, destinations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body = {
            "name": f"{exc_type} alerts",
            "triggers": ["issue_created", "issue_reopened"],
            "filters": {
                "type": "AND",
                "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": [exc_type]}],
            },
            "destinations": destinations,
            **extra,
        }
        response = httpx.post(f"{self.base}/alerts/", headers=self.headers, json=body, timeout=60)
        assert response.status_code == 201, response.text
        return response.json()


def _env(server: LiveServer, **changes: str) -> None:
    server.env_overrides.update(changes)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with http_receiver() as receiver, smtp_server() as inbox:
        server = LiveServer(data_dir=tmp_path_factory.mktemp("alerts") / "data")
        _env(
            server,
            FAULTLINE_PUBLIC_URL=PUBLIC_URL,
            FAULTLINE_ALERT_ALLOW_INTERNAL_URLS="true",
            FAULTLINE_ALERT_RETRY_SECONDS="0.2",
            FAULTLINE_ALERT_POLL_SECONDS="0.2",
            FAULTLINE_SMTP_URL=inbox.url,
            FAULTLINE_SMTP_FROM="alerts@faultline.example.test",
        )
        server.start()
        try:
            yield Env(server, receiver, inbox, server.credentials())
        finally:
            server.stop()


def test_every_destination_gets_its_documented_shape(env: Env) -> None:
    url = env.receiver.url
    alert = env.create_alert(
        "PaymentDeclined",
        [
            {"channel_type": "slack", "config": {"url": f"{url}/slack"}},
            {"channel_type": "discord", "config": {"url": f"{url}/discord"}},
            {"channel_type": "teams", "config": {"url": f"{url}/teams"}},
            {"channel_type": "webhook", "config": {"url": f"{url}/hook"}},
            {"channel_type": "email", "config": {"recipients": ["oncall@example.test"]}},
        ],
    )
    [secret] = [d["secret"] for d in alert["destinations"] if d["channel_type"] == "webhook"]
    assert secret.startswith("whsec_")
    shown_later = httpx.get(f"{env.base}/alerts/{alert['id']}/", headers=env.headers, timeout=60).json()
    assert all("secret" not in d for d in shown_later["destinations"])  # shown once

    env.report(caught(charge, "alice"), **{"$environment": "production", "$release": "shop@1.4.2"})
    paths = ("/slack", "/discord", "/teams", "/hook")
    assert wait_until(lambda: all(env.receiver.ok_at(p) for p in paths) and env.inbox.messages, timeout_s=60)

    [hook] = env.receiver.ok_at("/hook")
    body = hook.json()
    issue_id = body["issue"]["id"]
    link = f"{PUBLIC_URL}/project/{env.creds['project_id']}/issues/{issue_id}"
    timestamp = hook.headers["X-Faultline-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Faultline-Signature"] == f"sha256={expected}"
    assert hook.headers["Content-Type"] == "application/json"
    assert body["trigger"] == "issue_created"
    assert body["link"] == link
    assert body["issue"]["name"] == "PaymentDeclined"
    assert "card of alice declined" in body["issue"]["description"]
    assert "charge" in body["issue"]["first_frame"]
    assert body["issue"]["environment"] == "production"
    assert body["issue"]["release"] == "shop@1.4.2"
    assert body["counts"]["occurrences"] >= 1

    [slack] = env.receiver.ok_at("/slack")
    slack_body = slack.json()
    assert isinstance(slack_body["text"], str) and "PaymentDeclined" in slack_body["text"]
    section = slack_body["blocks"][0]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert f"<{link}|" in section["text"]["text"]
    assert any(b["type"] == "actions" and b["elements"][0]["url"] == link for b in slack_body["blocks"])

    [discord] = env.receiver.ok_at("/discord")
    discord_body = discord.json()
    assert isinstance(discord_body["content"], str) and len(discord_body["content"]) <= 2000
    embed = discord_body["embeds"][0]
    assert embed["url"] == link and "PaymentDeclined" in embed["title"] and len(embed["title"]) <= 256
    assert {"name": "environment", "value": "production", "inline": True} in embed["fields"]

    [teams] = env.receiver.ok_at("/teams")
    teams_body = teams.json()
    assert teams_body["type"] == "message"
    attachment = teams_body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"]
    assert card["body"][0]["type"] == "TextBlock" and "PaymentDeclined" in card["body"][0]["text"]
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "View issue", "url": link}

    [mail] = env.inbox.messages
    assert mail["To"] == "oncall@example.test"
    assert mail["From"] == "alerts@faultline.example.test"
    assert "PaymentDeclined" in mail["Subject"]
    assert link in mail.get_payload(decode=True).decode()

    log = httpx.get(f"{env.base}/alerts/{alert['id']}/deliveries/", headers=env.headers, timeout=60).json()
    assert log["count"] == 5
    assert {row["status"] for row in log["results"]} == {"success"}
    assert {row["channel_type"] for row in log["results"]} == {"slack", "discord", "teams", "webhook", "email"}


def test_a_receiver_failing_twice_then_succeeding_gets_exactly_one_delivery(env: Env) -> None:
    env.receiver.fail_first["/flaky"] = 2
    alert = env.create_alert(
        "FlakyError", [{"channel_type": "webhook", "config": {"url": f"{env.receiver.url}/flaky"}}]
    )
    env.report(caught(flaky))
    assert wait_until(lambda: env.receiver.ok_at("/flaky"), timeout_s=60)

    def settled() -> dict[str, Any] | None:
        rows = httpx.get(f"{env.base}/alerts/{alert['id']}/deliveries/", headers=env.headers, timeout=60).json()[
            "results"
        ]
        return rows[0] if rows and rows[0]["status"] == "success" else None

    delivery = wait_until(settled, timeout_s=30)
    assert delivery is not None
    assert delivery["attempts"] == 3
    assert [a["status"] for a in delivery["attempt_log"]] == ["success", "error", "error"]
    assert delivery["attempt_log"][1]["http_status"] == 500
    assert "receiver failing on purpose" in delivery["attempt_log"][1]["error"]
    # A few more delivery rounds change nothing: one success, three requests in all.
    wait_until(lambda: False, timeout_s=1.5)
    assert len(env.receiver.ok_at("/flaky")) == 1
    assert [r.status for r in env.receiver.at("/flaky")] == [500, 500, 200]


def test_a_server_killed_between_outbox_write_and_delivery_delivers_after_restart(env: Env) -> None:
    env.create_alert("RestartError", [{"channel_type": "webhook", "config": {"url": f"{env.receiver.url}/restart"}}])
    env.server.stop()
    _env(env.server, FAULTLINE_ALERT_POLL_SECONDS="3600")  # the deliverer does not run in this life
    env.server.start()
    db = Database(f"sqlite:///{env.server.data_dir / 'faultline.db'}")
    try:
        env.report(caught(restart))

        def written() -> bool:
            with db.read() as session:
                rows = session.execute(
                    sa.select(NotificationOutbox.delivered_at).where(
                        NotificationOutbox.event == "$error_tracking_issue_created",
                        NotificationOutbox.properties["name"].as_string() == "RestartError",
                    )
                ).all()
            return len(rows) == 1 and rows[0][0] is None

        assert wait_until(written, timeout_s=30)
    finally:
        db.dispose()
    env.server.kill()
    assert env.receiver.at("/restart") == []

    _env(env.server, FAULTLINE_ALERT_POLL_SECONDS="0.2")
    env.server.start()
    assert wait_until(lambda: env.receiver.ok_at("/restart"), timeout_s=60)
    assert env.receiver.ok_at("/restart")[0].json()["issue"]["name"] == "RestartError"
