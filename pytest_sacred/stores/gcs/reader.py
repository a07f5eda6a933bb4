"""Reader of the GCS store: ``gs://bucket/prefix``; credentials from Application Default
Credentials, or ``STORAGE_EMULATOR_HOST`` for an emulator."""

from __future__ import annotations

from ...readers.base import Reader
from ..objects.reader import open_bucket_store
from .bucket import GCSBucket


def open_store(store: str) -> Reader:
    return open_bucket_store(store, "gs", GCSBucket)
