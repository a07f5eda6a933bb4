"""A Google Cloud Storage bucket through google-cloud-storage (extra ``gcs``): the
operations of :class:`~..objects.bucket.Bucket` the GCS store's writer and reader use.

Credentials and project come from Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``);
``STORAGE_EMULATOR_HOST`` points the client at an emulator instead (no credentials then).
An id is claimed with an upload preconditioned on ``ifGenerationMatch=0`` (the object
must not exist), which GCS applies atomically.
"""

from __future__ import annotations

import os
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
        from google.api_core.exceptions import PreconditionFailed

        blob = self.bucket().blob(key)
        try:
            if create_only:  # generation 0 matches only an object that does not exist
                blob.upload_from_string(data, content_type=content_type, if_generation_match=0,
                                        **self._calls())
            else:
                blob.upload_from_string(data, content_type=content_type, **self._calls())
        except PreconditionFailed:
            return False
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


def _environment_once(client: Any) -> None:
    """Read the proxy and CA-bundle variables of the environment for the service's host
    once, not at every request: ``requests`` looks them up for each one (two passes over
    ``os.environ``, a quarter of the client's time per upload). The client's requests all
    go to that one host, so the settings found for it hold for each of them; the token
    refreshes of real credentials have a session of their own, which still reads them."""
    # the client's requests.Session (google-auth's AuthorizedSession) and its API's base
    # URL are attributes google-cloud-storage does not promise: without them the client
    # is left as it is, reading the environment at each request
    session: Any = getattr(client, "_http", None)
    base_url = getattr(getattr(client, "_connection", None), "API_BASE_URL", None)
    if not getattr(session, "trust_env", False) or not isinstance(base_url, str) \
            or not hasattr(session, "merge_environment_settings"):
        return
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify, session.cert = found["verify"], found["cert"]
    session.trust_env = False
