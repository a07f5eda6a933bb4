"""A Google Cloud Storage bucket through google-cloud-storage (extra ``gcs``): the
operations of :class:`~..objects.bucket.Bucket` the GCS store's writer and reader use.

Credentials and project come from Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``);
``STORAGE_EMULATOR_HOST`` points the client at an emulator instead (no credentials then).
An id is claimed with an upload preconditioned on ``ifGenerationMatch=0`` (the object
must not exist), which GCS applies atomically.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import Any

from ..base import StoreError

OPTION = "--sacred-gcs"
_OPEN_TIMEOUT = 10  # seconds for the bucket check at session start, retries included
#: (connect, read) seconds of one request during the session
_TIMEOUT = (3, 60)


class GCSBucket:
    """One GCS bucket through a ``google.cloud.storage.Client`` (made at :meth:`open`)."""

    def __init__(self, bucket: str) -> None:
        self.name = bucket
        self.url = f"gs://{bucket}"
        self._bucket: Any = None
        self._upload: tuple[Any, str] | None = None

    def spec(self) -> dict[str, Any]:
        return {}

    def is_transient(self, exc: BaseException) -> bool:
        """The service unreachable or the connection lost, a 5xx answer, throttling (429),
        or the client's own retries running out on one of these."""
        try:
            from google.api_core import exceptions as api
            from requests.exceptions import ConnectionError, Timeout
        except ImportError:
            return False
        return isinstance(exc, (ConnectionError, Timeout, api.ServerError,
                                api.TooManyRequests, api.RetryError))

    def _calls(self) -> dict[str, Any]:
        """The timeout of each request during the session, and no retry of the client's
        own: a request that fails raises at once, and the store's write queue retries it
        on its thread (its notice says the store does not answer). The client's retries
        (120 s by default, even a few seconds) held the experiment's thread in the id
        claim of ``allocate_id`` for as long as an outage lasted."""
        return {"timeout": _TIMEOUT, "retry": None}

    def _where(self) -> str:
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        return f"{OPTION} {self.url}" + (f" (emulator {emulator})" if emulator else "")

    def bucket(self) -> Any:
        if self._bucket is None:
            self.open()
        return self._bucket

    def _uploads(self) -> tuple[Any, str]:
        """The client's HTTP session and the URL of the bucket's single-request uploads
        (on the host the client uploads to: its endpoint, or the mTLS one it chose)."""
        if self._upload is None:
            client = self.bucket().client
            connection = client._connection
            host = (connection.get_api_base_url_for_mtls()
                    if hasattr(connection, "get_api_base_url_for_mtls")
                    else connection.API_BASE_URL)
            self._upload = (client._http,
                            f"{host}/upload/storage/v1/b/{self.name}/o?uploadType=multipart")
        return self._upload

    def open(self, create: bool = True) -> None:
        """Check the bucket answers and our credentials are accepted; with ``create``,
        create it when missing."""
        from ...extras import require

        storage = require("google.cloud.storage")
        from google.api_core import exceptions as api
        from google.api_core.retry import Retry
        from google.auth.exceptions import GoogleAuthError
        from requests.exceptions import ConnectionError, Timeout

        retry = Retry(timeout=_OPEN_TIMEOUT)
        try:
            client = storage.Client()
            _environment_once(client)
            try:
                self._bucket = client.get_bucket(self.name, timeout=5, retry=retry)
            except api.NotFound:
                if not create:
                    raise StoreError(f"{self._where()}: there is no such bucket") from None
                try:
                    self._bucket = client.create_bucket(self.name, timeout=5, retry=retry)
                except api.Conflict:
                    # another session created it since (sessions started together on a
                    # new bucket): use it. A name taken by another project is then
                    # refused by the get (403), with its own message
                    self._bucket = client.get_bucket(self.name, timeout=5, retry=retry)
        except GoogleAuthError as exc:
            raise StoreError(f"{self._where()}: no usable Google credentials ({exc}); set "
                             "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file "
                             "or run 'gcloud auth application-default login'") from None
        except (ConnectionError, Timeout, api.RetryError) as exc:
            raise StoreError(f"{self._where()}: the service cannot be reached ({exc}); check "
                             "the network or STORAGE_EMULATOR_HOST") from None
        except (api.Forbidden, api.Unauthorized) as exc:
            raise StoreError(f"{self._where()}: the credentials are not accepted for this "
                             f"bucket ({exc.code} {exc.message})") from None
        except api.GoogleAPICallError as exc:
            raise StoreError(f"{self._where()}: the bucket cannot be used ({exc.code} "
                             f"{exc.message})") from None

    def put(self, key: str, data: bytes, content_type: str, create_only: bool = False) -> bool:
        """The multipart upload ``Blob.upload_from_string`` makes (metadata with the CRC32C
        the service checks, then the bytes), posted through the client's own session
        (credentials, proxies): the client's layers around that one request cost a fifth
        of its time, at five uploads a run."""
        from google.api_core.exceptions import PreconditionFailed, from_http_response

        if len(data) > _MULTIPART_MAX:  # the client's resumable upload, in parts
            try:
                self.bucket().blob(key).upload_from_string(
                    data, content_type=content_type,
                    if_generation_match=0 if create_only else None, **self._calls())
            except PreconditionFailed:
                return False
            return True
        session, url = self._uploads()
        if create_only:  # generation 0 matches only an object that does not exist
            url += "&ifGenerationMatch=0"
        metadata = json.dumps({"name": key, "contentType": content_type,
                               "crc32c": _crc32c(data)}).encode("utf-8")
        boundary = _boundary(data)
        part = b"--" + boundary + b"\r\ncontent-type: "
        body = b"".join((part, b"application/json; charset=UTF-8\r\n\r\n", metadata, b"\r\n",
                         part, content_type.encode("utf-8"), b"\r\n\r\n", data,
                         b"\r\n--", boundary, b"--"))
        answer = session.request(
            "POST", url, data=body, timeout=_TIMEOUT,
            headers={"Content-Type": f'multipart/related; boundary="{boundary.decode()}"'})
        if answer.status_code == 412:  # the precondition: the object exists
            return False
        if answer.status_code >= 300:
            raise from_http_response(answer)  # type: ignore[no-untyped-call]
        return True

    def put_file(self, key: str, filename: str, content_type: str) -> None:
        self.bucket().blob(key).upload_from_filename(filename, content_type=content_type,
                                                     **self._calls())

    def get(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            data: bytes = self.bucket().blob(key).download_as_bytes(**self._calls())
            return data
        except NotFound:
            return None

    def list_dirs(self, prefix: str) -> list[str]:
        blobs = self.bucket().list_blobs(prefix=prefix, delimiter="/", **self._calls())
        for _ in blobs:  # the prefixes are known once the pages are read
            pass
        return [p[len(prefix):].rstrip("/") for p in sorted(blobs.prefixes)]

    def list_keys(self, prefix: str) -> list[str]:
        return [b.name for b in self.bucket().list_blobs(prefix=prefix, **self._calls())]

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        from google.api_core.exceptions import NotFound

        blob = self.bucket().get_blob(key, **self._calls())
        if blob is None:
            return None
        try:  # this very generation: a newer one is not read with the older's number
            data: bytes = blob.download_as_bytes(if_generation_match=blob.generation,
                                                **self._calls())
        except NotFound:
            return None
        return data, str(blob.generation)

    def put_if_unchanged(self, key: str, data: bytes, content_type: str, version: str) -> bool:
        from google.api_core.exceptions import PreconditionFailed

        try:
            self.bucket().blob(key).upload_from_string(data, content_type=content_type,
                                                       if_generation_match=int(version),
                                                       **self._calls())
        except PreconditionFailed:
            return False
        return True


#: bytes above which google-cloud-storage uploads in parts (its _MAX_MULTIPART_SIZE)
_MULTIPART_MAX = 8 * 1024 * 1024
#: the multipart boundary of this process's uploads (random: no data is made to hold it)
_BOUNDARY = b"=====" + secrets.token_hex(16).encode("ascii")


def _boundary(data: bytes) -> bytes:
    """A boundary that does not occur in ``data``: the process's, or a fresh one."""
    boundary = _BOUNDARY
    while boundary in data:
        boundary = b"=====" + secrets.token_hex(16).encode("ascii")
    return boundary


def _crc32c(data: bytes) -> str:
    """The object's CRC32C as the JSON API's metadata gives it: base64 of 4 big-endian
    bytes."""
    import google_crc32c

    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode("ascii")


def _environment_once(client: Any) -> None:
    """Read the proxy and CA-bundle variables of the environment for the service's host
    once, not at every request: ``requests`` looks them up for each one (two passes over
    ``os.environ``, a quarter of the client's time per upload). The client's requests all
    go to that one host, so the settings found for it hold for each of them; the token
    refreshes of real credentials have a session of their own, which still reads them."""
    session = client._http  # the client's requests.Session (google-auth's AuthorizedSession)
    if not getattr(session, "trust_env", False):
        return
    found = session.merge_environment_settings(client._connection.API_BASE_URL, {}, None,
                                               None, None)
    session.proxies.update(found["proxies"])
    session.verify, session.cert = found["verify"], found["cert"]
    session.trust_env = False
