"""Telegram notifications (``--sacred-telegram telegram.json``) through the Bot API.

The file holds ``token`` and ``chat_id``, optionally ``silent_completion``, ``proxy_url``
(``http://`` or ``https://``, with ``username``/``password``), ``api_url`` (the Bot API's
base URL, default ``https://api.telegram.org``: point it at a local server in tests or a
self-hosted Bot API server) and the templates ``completed_text``, ``interrupted_text``,
``failed_text``. Sent with the standard library, no bot framework. Unlike Sacred's
observer no message is sent when a run starts: one per run, at its end.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from ..redact import redact_url
from ..stores.base import StoreError
from .base import DeliveryError, Notifier, load_settings, post_json

OPTION = "--sacred-telegram"
API_URL = "https://api.telegram.org"
SCHEMA = {"token": (str,), "chat_id": (int, str), "silent_completion": (bool,),
          "proxy_url": (str,), "username": (str,), "password": (str,), "api_url": (str,),
          "completed_text": (str,), "interrupted_text": (str,), "failed_text": (str,)}
DEFAULTS = {
    "api_url": API_URL,
    "silent_completion": False,
    "completed_text": "\u2705 *{experiment[name]}* (run {_id}) completed after "
                      "{elapsed_time} with result `{result}`",
    "interrupted_text": "\u26a0 *{experiment[name]}* (run {_id}) stopped: {status} after "
                        "{elapsed_time}",
    "failed_text": "\u274c *{experiment[name]}* (run {_id}) failed after {elapsed_time}: "
                   "`{error}`",
}


def _http_url(value: str, key: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(f"{where}: {key!r} {redact_url(value)!r} is not an http(s) URL "
                         "(SOCKS proxies are not supported)")
    return value.rstrip("/")


class TelegramNotifier(Notifier):
    """``sendMessage`` to one chat; ``getMe`` at session start checks the token."""

    name = "telegram"
    option = OPTION
    # Telegram's Bots FAQ (https://core.telegram.org/bots/faq, "My bot is hitting limits"):
    # about one message per second in one chat, at most 20 per minute in a group; a
    # message's text is 1-4096 characters (https://core.telegram.org/bots/api#sendmessage)
    message_limit = 4096

    def __init__(self, path: str, mode: str | None = None, main_process: bool = True) -> None:
        settings = load_settings(path, OPTION, SCHEMA, ("token", "chat_id"), DEFAULTS)
        where = f"{OPTION} {path}"
        if any(c in settings["token"] for c in "/?# "):
            raise StoreError(f"{where}: 'token' is not a bot token (it has '/', '?', '#' or "
                             "spaces); give the token @BotFather sent")
        self.api_url = _http_url(settings["api_url"], "api_url", where)
        opener = None
        if settings.get("proxy_url"):
            proxy = _http_url(settings["proxy_url"], "proxy_url", where)
            if settings.get("username"):
                parts = urlsplit(proxy)
                credentials = quote(settings["username"], safe="")
                if settings.get("password"):
                    credentials += ":" + quote(settings["password"], safe="")
                proxy = f"{parts.scheme}://{credentials}@{parts.netloc}{parts.path}"
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({"http": proxy, "https": proxy})).open
        self._open_url = opener
        chat = settings["chat_id"]
        # a group's id is negative: 20 messages a minute there, one a second elsewhere
        self.interval = 3.0 if str(chat).startswith("-") else 1.0
        super().__init__(settings, mode, main_process)

    def describe(self) -> str:
        return f"Telegram chat {self.settings['chat_id']} via {urlsplit(self.api_url).netloc}"

    def _call(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = f"{self.api_url}/bot{self.settings['token']}/{method}"
        status, raw, _ = post_json(url, body, self._open_url)
        try:
            answer: dict[str, Any] = json.loads(raw)
        except ValueError:
            answer = {"description": raw.decode("utf-8", "replace")[:200]}
        return status, answer

    def open(self) -> None:
        """The token is checked before any run: a wrong one fails the session start."""
        try:
            status, answer = self._call("getMe", {})
        except DeliveryError as exc:
            raise StoreError(f"{OPTION}: {self.describe()}: {exc}") from None
        if status >= 400 or not answer.get("ok"):
            raise StoreError(f"{OPTION}: the Bot API does not accept the token (HTTP {status}: "
                             f"{answer.get('description', '')}); check 'token'")

    def deliver(self, text: str, silent: bool) -> float | None:
        body = {"chat_id": self.settings["chat_id"], "text": text, "parse_mode": "Markdown",
                "disable_notification": silent}
        status, answer = self._call("sendMessage", body)
        if status == 400 and "parse entities" in str(answer.get("description")):
            # a name with '_' or '*' breaks Markdown: send the text as it is
            del body["parse_mode"]
            status, answer = self._call("sendMessage", body)
        if status == 429:
            return float(answer.get("parameters", {}).get("retry_after") or 1)
        if status >= 400 or not answer.get("ok"):
            raise DeliveryError(f"HTTP {status}: {answer.get('description', '')}")
        return None
