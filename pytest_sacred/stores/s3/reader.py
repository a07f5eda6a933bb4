"""Reader of the S3 store: ``s3://bucket/prefix``; endpoint, region and credentials from
the AWS configuration (``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``, profiles)."""

from __future__ import annotations

from ...readers.base import Reader
from ..objects.reader import open_bucket_store
from .bucket import S3Bucket


def open_store(store: str) -> Reader:
    return open_bucket_store(store, "s3", S3Bucket)
