"""The S3 store: Sacred's FileStorage layout in a bucket (:mod:`..objects`), through boto3:
the bucket operations (:mod:`.bucket`), the observer (:mod:`.writer`), the reader
(:mod:`.reader`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import StoreKind

if TYPE_CHECKING:
    from ...options import Options
    from .writer import S3Observer


def _claims(store: str) -> bool:
    return store.startswith("s3://")


def _from_options(options: Options) -> list[Any]:
    if options.s3:
        from .writer import S3Observer

        return [S3Observer(options.s3, options.s3_endpoint, options.s3_region)]
    if options.s3_endpoint or options.s3_region:
        from ..base import StoreError

        raise StoreError("--sacred-s3-endpoint/--sacred-s3-region given without --sacred-s3 "
                         "s3://bucket/prefix")
    return []


def _open_writer(store: str) -> S3Observer:
    from .writer import S3Observer

    return S3Observer(store)


def _reopen(spec: dict[str, Any]) -> S3Observer:
    from .writer import S3Observer

    return S3Observer(spec["url"], spec.get("endpoint"), spec.get("region"))


KIND = StoreKind(
    name="s3", title="S3",
    options=("--sacred-s3=s3://BUCKET/PREFIX", "--sacred-s3-endpoint=URL",
             "--sacred-s3-region=REGION"),
    client="boto3", claims=_claims, from_options=_from_options, open_writer=_open_writer,
    reopen=_reopen)
