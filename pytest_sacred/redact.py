"""Passwords never leave the process: URLs are shown and stored with them masked."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from .urls import split_url

_SECRET_OPTIONS = re.compile(r"((?:[^&?=]*password|AWS_SESSION_TOKEN)[=:])([^&,]*)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with its password (and password-like options) replaced by ``***``.

    Works on anything that may hold credentials before an ``@``: full URLs and
    half-written option values alike, so every message can show what the user typed.
    """
    parts = split_url(url)
    if parts.query is not None:
        parts = replace(parts, query=_SECRET_OPTIONS.sub(r"\1***", parts.query))
    return parts.unsplit(password="***")


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
    password = split_url(url).password or ""
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text
