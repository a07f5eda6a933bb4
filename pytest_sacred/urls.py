"""Splitting a URL (or a half-written option value) into the parts credentials live in.

Every place that masks a password or reads a host, database or user out of a URL goes
through :func:`split_url`, so they all agree on where the credentials end: at the last
``@`` before the query, whatever the password holds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UrlParts:
    """``scheme://userinfo@hosts/path?query``; a part that is absent is ``None``."""

    scheme: str | None
    userinfo: str | None
    hosts: str
    path: str | None
    query: str | None

    @property
    def user(self) -> str | None:
        return None if self.userinfo is None else self.userinfo.partition(":")[0]

    @property
    def password(self) -> str | None:
        """The password of the userinfo (``None`` when it has no ``:``)."""
        if self.userinfo is None or ":" not in self.userinfo:
            return None
        return self.userinfo.partition(":")[2]

    def unsplit(self, password: str | None = None) -> str:
        """The text again, with the password replaced by ``password`` when given."""
        text = "" if self.scheme is None else self.scheme + "://"
        if self.userinfo is not None:
            user = self.userinfo
            if password is not None and self.password is not None:
                user = f"{self.user}:{password}"
            text += user + "@"
        text += self.hosts
        if self.path is not None:
            text += "/" + self.path
        return text if self.query is None else f"{text}?{self.query}"

    def server(self) -> str:
        """``scheme://[userinfo@]hosts``: where to connect, without path or options."""
        return UrlParts(self.scheme, self.userinfo, self.hosts, None, None).unsplit()


def split_url(text: str) -> UrlParts:
    """Split ``text`` as a URL; a text without ``://`` has no scheme (``user:pw@host``)."""
    scheme: str | None
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = None, text
    head, qmark, query = rest.partition("?")
    at = head.rfind("@")
    userinfo = head[:at] if at >= 0 else None
    hosts, slash, path = head[at + 1:].partition("/")
    return UrlParts(scheme, userinfo, hosts, path if slash else None,
                    query if qmark else None)
