"""What an object store bucket gives the object stores' writer and reader: the operations
(:class:`Bucket`, given by :mod:`..s3.bucket` and :mod:`..gcs.bucket`) and the
``scheme://bucket/prefix`` a store is named by (:func:`parse_bucket_url`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..base import StoreError


class Bucket(Protocol):
    """The operations an object store gives the observer and the reader."""

    #: ``s3://bucket`` or ``gs://bucket``, for messages
    url: str

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` of one of these operations may pass when tried again: the
        service unreachable, a lost connection, a 5xx answer, throttling."""

    def spec(self) -> dict[str, Any]:
        """What reaches this bucket again besides its name (an endpoint URL), no secrets."""

    def open(self, create: bool = True) -> None:
        """Connect and check the bucket (with ``create``, created when missing); raise
        :class:`StoreError`."""

    def put(self, key: str, data: bytes, content_type: str, create_only: bool = False) -> bool:
        """Store ``data`` at ``key``; with ``create_only``, only if ``key`` does not exist
        yet, atomically: returns False (and stores nothing) when it does."""

    def put_file(self, key: str, filename: str, content_type: str) -> None:
        """Store a local file's bytes at ``key`` (large files in parts)."""

    def get(self, key: str) -> bytes | None:
        """The object at ``key``, or None when there is none."""

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the "directories" right under ``prefix`` (which ends with ``/``)."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``."""

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object at ``key`` and a token of this version of it (S3's ETag, GCS's
        generation), or None when there is none."""

    def put_if_unchanged(self, key: str, data: bytes, content_type: str, version: str) -> bool:
        """Store ``data`` at ``key`` only if the object there is still ``version``
        (S3 ``If-Match``, GCS ``ifGenerationMatch``), atomically: False when it changed."""


@dataclass(frozen=True)
class BucketURL:
    """``scheme://bucket/prefix`` taken apart; ``prefix`` has no slash at either end."""

    scheme: str
    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` joined under the prefix."""
        return "/".join((self.prefix, *parts) if self.prefix else parts)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")


# S3's and GCS's common bucket-name rules (3-63 characters of lower-case letters, digits,
# dots and hyphens, starting and ending with a letter or digit), checked before connecting
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]")


def parse_bucket_url(value: str, scheme: str, option: str) -> BucketURL:
    """``value`` of ``option`` as a bucket and prefix; :class:`StoreError` saying what is
    wrong and what would be right."""
    example = f"{scheme}://my-bucket/experiments/runs"
    given, sep, rest = value.partition("://")
    if not sep or given != scheme:
        raise StoreError(f"{option} {value!r} is not a {scheme}:// URL; give {example}")
    if any(c in rest for c in "?#") or "\\" in rest:
        raise StoreError(f"{option} {value!r}: a bucket URL has no query, fragment or "
                         f"backslash; give {example}")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise StoreError(
            f"{option} {value!r}: {bucket!r} is not a bucket name (3 to 63 lower-case "
            f"letters, digits, dots or hyphens, starting and ending with a letter or digit); "
            f"give {example}")
    prefix = prefix.strip("/")
    if "//" in prefix or any(part in (".", "..") for part in prefix.split("/")):
        raise StoreError(f"{option} {value!r}: the prefix {prefix!r} has an empty, '.' or "
                         f"'..' part; give {example}")
    return BucketURL(scheme, bucket, prefix)
