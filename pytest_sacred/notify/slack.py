"""Slack notifications (``--sacred-slack slack.json``) through an incoming webhook.

The file holds ``webhook_url`` and optionally ``bot_name``, ``icon`` and the templates
``completed_text``, ``interrupted_text``, ``failed_text`` (``null``: no message for that
status). Posted with the standard library, no Slack SDK.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from ..stores.base import StoreError
from .base import DeliveryError, Notifier, load_settings, post_json

OPTION = "--sacred-slack"
SCHEMA = {"webhook_url": (str,), "bot_name": (str,), "icon": (str,),
          "completed_text": (str,), "interrupted_text": (str,), "failed_text": (str,)}
DEFAULTS = {
    "bot_name": "sacred-bot",
    "icon": ":angel:",
    "completed_text": ":white_check_mark: *{experiment[name]}* (run {_id}) completed after "
                      "_{elapsed_time}_ with result=`{result}`",
    "interrupted_text": ":warning: *{experiment[name]}* (run {_id}) stopped: {status} after "
                        "_{elapsed_time}_",
    "failed_text": ":x: *{experiment[name]}* (run {_id}) failed after _{elapsed_time}_: "
                   "`{error}`",
}


class SlackNotifier(Notifier):
    """Posts ``{"username", "icon_emoji", "text"}`` to the webhook."""

    name = "slack"
    option = OPTION
    # Slack's incoming webhooks take about one message per second each ("Rate Limits",
    # https://api.slack.com/apis/rate-limits: "Incoming webhooks ... 1 per second", short
    # bursts tolerated); text past 40,000 characters is cut by Slack
    # (https://api.slack.com/methods/chat.postMessage, "Truncating content"): we cut
    # earlier, where messages stay readable
    interval = 1.0
    message_limit = 4000

    def __init__(self, path: str, mode: str | None = None, main_process: bool = True) -> None:
        settings = load_settings(path, OPTION, SCHEMA, ("webhook_url",), DEFAULTS)
        parts = urlsplit(settings["webhook_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StoreError(f"{OPTION} {path}: 'webhook_url' is not an http(s) URL; give the "
                             "incoming webhook's URL (https://hooks.slack.com/services/...)")
        self.host = parts.netloc.rpartition("@")[2]
        super().__init__(settings, mode, main_process)

    def describe(self) -> str:
        return f"Slack webhook at {self.host}"

    def deliver(self, text: str, silent: bool) -> float | None:
        status, body, headers = post_json(self.settings["webhook_url"], {
            "username": self.settings["bot_name"], "icon_emoji": self.settings["icon"],
            "text": text})
        if status == 429:
            return float(headers.get("Retry-After") or 1)
        if status >= 400:
            answer = body.decode("utf-8", "replace")[:200]
            raise DeliveryError(f"HTTP {status} {_plain(answer)}")
        return None


def _plain(answer: str) -> str:
    """Slack answers errors in plain text (``invalid_payload``); some proxies in JSON."""
    try:
        return json.dumps(json.loads(answer))
    except ValueError:
        return answer.strip()
