"""The object stores (S3, GCS) and notifiers (Slack, Telegram) a session's options ask for.

Each observer's module (and client library) is imported only when its option is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observer

if TYPE_CHECKING:
    from ..options import Options


def object_stores(options: Options) -> list[Observer]:
    stores: list[Observer] = []
    if options.s3:
        from .s3.writer import S3Observer

        stores.append(S3Observer(options.s3, options.s3_endpoint, options.s3_region))
    elif options.s3_endpoint or options.s3_region:
        from .base import StoreError

        raise StoreError("--sacred-s3-endpoint/--sacred-s3-region given without --sacred-s3 "
                         "s3://bucket/prefix")
    if options.gcs:
        from .gcs.writer import GCSObserver

        stores.append(GCSObserver(options.gcs))
    return stores


def notifiers(options: Options) -> list[Observer]:
    if not (options.slack or options.telegram or options.notify):
        return []  # the notifiers' module (http.client, urllib) is not imported for nothing
    from ..notify.base import mode_option

    mode = mode_option(options.notify)
    found: list[Observer] = []
    if options.slack:
        from ..notify.slack import SlackNotifier

        found.append(SlackNotifier(options.slack, mode, options.main_process))
    if options.telegram:
        from ..notify.telegram import TelegramNotifier

        found.append(TelegramNotifier(options.telegram, mode, options.main_process))
    if mode is not None and not found:
        from .base import StoreError

        raise StoreError(f"--sacred-notify {mode} given without --sacred-slack or "
                         "--sacred-telegram")
    return found
