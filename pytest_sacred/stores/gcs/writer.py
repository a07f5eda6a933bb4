"""The Google Cloud Storage store (``--sacred-gcs gs://bucket/prefix``): Sacred's
FileStorage layout (:mod:`..objects.writer`) in a GCS bucket (:mod:`.bucket`)."""

from __future__ import annotations

from ..objects.bucket import parse_bucket_url
from ..objects.writer import ObjectStoreObserver
from .bucket import OPTION, GCSBucket


class GCSObserver(ObjectStoreObserver):
    """Runs in ``gs://bucket/prefix`` in Sacred's FileStorage layout."""

    name = "gcs"

    def __init__(self, url: str, priority: int = 20) -> None:
        parsed = parse_bucket_url(url, "gs", OPTION)
        super().__init__(GCSBucket(parsed.bucket), parsed, OPTION, "gcs", priority)
