"""The Google Cloud Storage store: Sacred's FileStorage layout in a bucket (:mod:`..objects`):
the bucket operations (:mod:`.bucket`), the observer (:mod:`.writer`), the reader
(:mod:`.reader`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import GCSObserver


def _claims(store: str) -> bool:
    return store.startswith("gs://")


def _from_options(options: Options) -> list[Any]:
    return [_open_writer(options.gcs)] if options.gcs else []


def _open_writer(store: str) -> GCSObserver:
    from .writer import GCSObserver

    return GCSObserver(store)


def _reopen(spec: dict[str, Any]) -> GCSObserver:
    return _open_writer(spec["url"])


KIND = StoreKind(
    name="gcs", title="Google Cloud Storage", options=("--sacred-gcs=gs://BUCKET/PREFIX",),
    client="google.cloud.storage", claims=_claims, from_options=_from_options,
    open_writer=_open_writer, reopen=_reopen)
