"""The S3 store (``--sacred-s3 s3://bucket/prefix``): Sacred's FileStorage layout
(:mod:`..objects.writer`) in an S3 bucket (:mod:`.bucket`)."""

from __future__ import annotations

from ..objects.bucket import BucketURL, parse_bucket_url
from ..objects.writer import ObjectStoreObserver
from .bucket import OPTION, S3Bucket


class S3Observer(ObjectStoreObserver):
    """Runs in ``s3://bucket/prefix`` in Sacred's FileStorage layout."""

    name = "s3"

    def __init__(self, url: str, endpoint: str | None = None, region: str | None = None,
                 priority: int = 20) -> None:
        parsed: BucketURL = parse_bucket_url(url, "s3", OPTION)
        super().__init__(S3Bucket(parsed.bucket, endpoint, region), parsed, OPTION, "s3",
                         priority)
