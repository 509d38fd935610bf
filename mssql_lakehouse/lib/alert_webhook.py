"""Failed runs and failed error-severity checks posted to a Slack or Microsoft Teams incoming webhook.

The payloads are the ones the services document: Slack's ``{"text": ...}``, and for Teams the
message with one Adaptive Card that a Workflows "when a Teams webhook request is received" flow
posts to its channel. The URL is a secret (whoever has it can post): it is given as a
``dg.EnvVar`` and never logged, not even when the post fails.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from mssql_lakehouse.lib.run_alerts import RunAlert

FORMATS = ("slack", "teams")
TIMEOUT_SECONDS = 10


class WebhookPostError(RuntimeError):
    """The webhook refused the post or could not be reached (the message never holds the URL)."""


def should_post(alert: RunAlert) -> bool:
    """A failed run, or a failed check of error severity (warnings stay in ``ops/run_alerts``)."""
    return alert.kind == "run_failure" or alert.severity == "ERROR"


def alert_line(alert: RunAlert) -> str:
    partition = f" [{alert.partition}]" if alert.partition else ""
    if alert.kind == "run_failure":
        what = f"Run of {alert.job_name}{partition} failed"
    else:
        what = f"Check {alert.asset_key}:{alert.check_name} failed in {alert.job_name}{partition}"
    return f"{what} (run {alert.run_id}): {alert.message}"


def payload(alerts: Sequence[RunAlert], fmt: str) -> dict[str, Any]:
    lines = [alert_line(a) for a in alerts]
    title = f"mssql_lakehouse: {len(lines)} failure{'s' if len(lines) > 1 else ''}"
    if fmt == "slack":
        return {"text": "\n".join([f"*{title}*", *(f"• {line}" for line in lines)])}
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True},
            *({"type": "TextBlock", "text": line, "wrap": True} for line in lines),
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


class AlertWebhook(dg.ConfigurableResource):
    """Where failures are posted (``LAKEHOUSE_ALERTS_WEBHOOK_URL``); nothing is posted without a URL."""

    url: str | None = Field(default=None, description="The incoming webhook's URL (a secret: use dg.EnvVar).")
    format: str = Field(default="slack", description="slack or teams: the payload the webhook takes.")

    def post(self, alerts: Sequence[RunAlert]) -> int:
        """Post the alerts that should be, in one message; returns how many were posted."""
        posted = [a for a in alerts if should_post(a)]
        if not self.url or not posted:
            return 0
        if self.format not in FORMATS:
            raise ValueError(f"webhook format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload(posted, self.format)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise WebhookPostError(f"the {self.format} webhook answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise WebhookPostError(
                f"the {self.format} webhook could not be reached ({type(reason).__name__})"
            ) from None
        return len(posted)
