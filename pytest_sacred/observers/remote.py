"""The object stores (S3, GCS) and notifiers (Slack, Telegram) a session's options ask for.

Their options are read here, in one place; each observer's module (and client library)
is imported only when its option is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from .base import Observer

#: option dest -> ini key, for the options of this module
NAMES = ("sacred_s3", "sacred_s3_endpoint", "sacred_s3_region", "sacred_gcs", "sacred_slack",
         "sacred_telegram", "sacred_notify")


@dataclass(frozen=True)
class RemoteOptions:
    s3: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    gcs: str | None = None
    slack: str | None = None
    telegram: str | None = None
    notify: str | None = None
    #: False in a pytest-xdist worker: the controller sends the messages
    main_process: bool = True


def read_options(config: pytest.Config) -> RemoteOptions:
    """Command line first, then the ini key of the same name."""
    values = {}
    for name in NAMES:
        value = config.getoption(name)
        if value in (None, ""):
            value = config.getini(name) or None
        values[name.removeprefix("sacred_")] = value
    return RemoteOptions(**values, main_process=not hasattr(config, "workerinput"))


def object_stores(options: RemoteOptions) -> list[Observer]:
    stores: list[Observer] = []
    if options.s3:
        from .s3 import S3Observer

        stores.append(S3Observer(options.s3, options.s3_endpoint, options.s3_region))
    elif options.s3_endpoint or options.s3_region:
        from .base import StoreError

        raise StoreError("--sacred-s3-endpoint/--sacred-s3-region given without --sacred-s3 "
                         "s3://bucket/prefix")
    if options.gcs:
        from .gcs import GCSObserver

        stores.append(GCSObserver(options.gcs))
    return stores


def notifiers(options: RemoteOptions) -> list[Observer]:
    from .notify import mode_option

    mode = mode_option(options.notify)
    found: list[Observer] = []
    if options.slack:
        from .slack import SlackNotifier

        found.append(SlackNotifier(options.slack, mode, options.main_process))
    if options.telegram:
        from .telegram import TelegramNotifier

        found.append(TelegramNotifier(options.telegram, mode, options.main_process))
    if mode is not None and not found:
        from .base import StoreError

        raise StoreError(f"--sacred-notify {mode} given without --sacred-slack or "
                         "--sacred-telegram")
    return found
