"""The Google Cloud Storage store: Sacred's FileStorage layout in a bucket (:mod:`..objects`):
the bucket operations and observer (:mod:`.writer`), the reader (:mod:`.reader`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from ...readers.base import Reader
    from .writer import GCSObserver


def _claims(store: str) -> bool:
    return store.startswith("gs://")


def _from_options(options: Options) -> list[Any]:
    if not options.gcs:
        return []
    from .writer import GCSObserver

    return [GCSObserver(options.gcs)]


def _open_writer(store: str) -> GCSObserver:
    from .writer import GCSObserver

    return GCSObserver(store)


def _open_reader(store: str) -> Reader:
    from .reader import open_store

    return open_store(store)


KIND = StoreKind(
    name="gcs", title="Google Cloud Storage", options=("--sacred-gcs=gs://BUCKET/PREFIX",),
    client="google.cloud.storage", claims=_claims, from_options=_from_options,
    open_writer=_open_writer, open_reader=_open_reader)
