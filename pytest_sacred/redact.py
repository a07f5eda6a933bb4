"""Passwords never leave the process: URLs are shown and stored with them masked."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

_SECRET_OPTIONS = re.compile(r"((?:[^&?=]*password|AWS_SESSION_TOKEN)[=:])([^&,]*)", re.I)

def redact_url(url: str) -> str:
    """``url`` with its password (and password-like options) replaced by ``***``.

    Works on anything that may hold credentials before an ``@``: full URLs and
    half-written option values alike, so every message can show what the user typed.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    hosts, qmark, query = rest.partition("?")
    at = hosts.rfind("@")
    if at >= 0:
        user, colon, _password = hosts[:at].partition(":")
        hosts = user + (":***" if colon else "") + hosts[at:]
    query = _SECRET_OPTIONS.sub(r"\1***", query)
    return (scheme + sep if sep else "") + hosts + qmark + query

def redact_strings(value: Any) -> Any:
    """``value`` with every URL in it (``meta.options`` holds the command line) masked."""
    if isinstance(value, dict):
        return {k: redact_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_strings(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        return redact_url(value)
    return value

def scrub_password(text: str, url: str) -> str:
    """Remove the password of ``url`` from an error text, whatever the driver put in it."""
    at = url.partition("?")[0].rfind("@")
    if at < 0:
        return text
    password = url.partition("://")[2].partition("?")[0]
    password = password[:password.rfind("@")].partition(":")[2]
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text
