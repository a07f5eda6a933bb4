"""An S3 bucket through boto3 (extra ``s3``): the operations of
:class:`~..objects.bucket.Bucket` the S3 store's writer and reader use.

Endpoint, region and credentials come from the usual AWS configuration (environment,
``~/.aws/config`` and ``credentials``, ``AWS_ENDPOINT_URL``); ``--sacred-s3-endpoint`` and
``--sacred-s3-region`` override the first two. An id is claimed with a conditional
``PutObject`` (``If-None-Match: *``), which S3 has honoured since 2024 and moto does too.
"""

from __future__ import annotations

import re
from typing import Any

from ..base import StoreError

OPTION = "--sacred-s3"
_ENDPOINT = re.compile(r"https?://[^/?#\s]+/?")
#: refuse fast when the endpoint does not answer and retry little on our own: the store's
#: write queue retries a write that failed for a while, without stalling the experiment;
#: send checksums only where S3 requires them: S3-compatible servers
#: (--sacred-s3-endpoint) that predate the CRC32 default of botocore 1.36 refuse those
_CLIENT_CONFIG = {"connect_timeout": 3, "read_timeout": 60,
                  "retries": {"mode": "standard", "max_attempts": 2},
                  "request_checksum_calculation": "when_required",
                  "response_checksum_validation": "when_required"}


_THROTTLED = frozenset({"SlowDown", "Throttling", "ThrottlingException",
                        "RequestLimitExceeded", "TooManyRequests", "RequestTimeout"})


class S3Bucket:
    """One S3 bucket through a boto3 client (made at :meth:`open`)."""

    def __init__(self, bucket: str, endpoint: str | None = None,
                 region: str | None = None) -> None:
        if endpoint is not None and not _ENDPOINT.fullmatch(endpoint):
            raise StoreError(f"--sacred-s3-endpoint {endpoint!r} is not an endpoint URL; give "
                             "http(s)://HOST[:PORT], e.g. http://127.0.0.1:9000")
        self.name = bucket
        self.url = f"s3://{bucket}"
        self.endpoint = endpoint
        self.region = region
        self._client: Any = None

    def spec(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "region": self.region}

    def is_transient(self, exc: BaseException) -> bool:
        """The endpoint unreachable or the connection lost, a 5xx answer, throttling."""
        try:
            from botocore.exceptions import (
                ClientError,
                ConnectionClosedError,
                ConnectTimeoutError,
                EndpointConnectionError,
                ReadTimeoutError,
            )
        except ImportError:
            return False
        if isinstance(exc, (EndpointConnectionError, ConnectionClosedError,
                            ConnectTimeoutError, ReadTimeoutError)):
            return True
        if isinstance(exc, ClientError):
            return _status(exc) >= 500 or _code(exc) in _THROTTLED
        return False

    # -- connecting ----------------------------------------------------------------------

    def _where(self) -> str:
        return f"{OPTION} {self.url}" + (f" at {self.endpoint}" if self.endpoint else "")

    def client(self) -> Any:
        if self._client is None:
            from ...extras import require

            boto3 = require("boto3")
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError

            try:
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.endpoint, region_name=self.region,
                    config=Config(**_CLIENT_CONFIG))
            except BotoCoreError as exc:  # a malformed AWS config file, an unknown profile
                raise StoreError(f"{self._where()}: {exc}") from None
        return self._client

    def open(self, create: bool = True) -> None:
        """Check the bucket answers and our credentials are accepted; with ``create``,
        create it when missing."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        client = self.client()
        try:
            try:
                client.head_bucket(Bucket=self.name)
            except ClientError as exc:
                if _status(exc) != 404:
                    raise
                if not create:
                    raise StoreError(f"{self._where()}: there is no such bucket") from None
                self._create(client)
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StoreError(f"{self._where()}: no usable AWS credentials ({exc}); set "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
                             "(aws configure)") from None
        except EndpointConnectionError as exc:
            raise StoreError(f"{self._where()}: the endpoint cannot be reached ({exc}); check "
                             "--sacred-s3-endpoint / AWS_ENDPOINT_URL") from None
        except ClientError as exc:
            status = _status(exc)
            hint = {403: "the credentials are not accepted for this bucket (wrong key, or "
                         "no permission)",
                    301: "the bucket is in another region: set --sacred-s3-region"}.get(
                status, "the bucket cannot be used")
            raise StoreError(f"{self._where()}: {hint} ({_code(exc)}, HTTP {status})"
                             ) from None
        except BotoCoreError as exc:
            raise StoreError(f"{self._where()}: {exc}") from None

    def _create(self, client: Any) -> None:
        region = client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.name}
        if region and region != "us-east-1":  # S3 refuses the default region as a constraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        from botocore.exceptions import ClientError

        try:
            client.create_bucket(**kwargs)
        except ClientError as exc:
            # another session created it since (sessions started together on a new
            # bucket): ours to use. A name another account holds is refused as before
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise

    # -- objects -------------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str, create_only: bool = False) -> bool:
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self.client().put_object(Bucket=self.name, Key=key, Body=data,
                                     ContentType=content_type, **extra)
        except ClientError as exc:
            # 412: the key exists; 409: another conditional write of it is under way
            if create_only and _status(exc) in (409, 412):
                return False
            raise
        return True

    def put_file(self, key: str, filename: str, content_type: str) -> None:
        self.client().upload_file(filename, self.name, key,
                                  ExtraArgs={"ContentType": content_type})

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            data: bytes = self.client().get_object(Bucket=self.name, Key=key)["Body"].read()
            return data
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise

    def list_dirs(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix, Delimiter="/")
        return [p["Prefix"][len(prefix):].rstrip("/")
                for page in pages for p in page.get("CommonPrefixes", [])]

    def list_keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client().get_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return answer["Body"].read(), str(answer["ETag"])

    def put_if_unchanged(self, key: str, data: bytes, content_type: str, version: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client().put_object(Bucket=self.name, Key=key, Body=data,
                                     ContentType=content_type, IfMatch=version)
        except ClientError as exc:
            # 412: another version is there now; 409: another conditional write under way
            if _status(exc) in (409, 412):
                return False
            raise
        return True


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "error")
