"""Notifications at the end of a run or a session (Slack, Telegram): observers that store
nothing. Their modules (http.client, urllib) are imported only when a notifier is asked
for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..options import Options
    from ..stores.base import Observer


def notifiers(options: Options) -> list[Observer]:
    """The notifiers a session's options ask for (``--sacred-slack``, ``--sacred-telegram``,
    ``--sacred-notify``)."""
    if not (options.slack or options.telegram or options.notify):
        return []  # the notifiers' module (http.client, urllib) is not imported for nothing
    from .base import mode_option

    mode = mode_option(options.notify)
    found: list[Observer] = []
    if options.slack:
        from .slack import SlackNotifier

        found.append(SlackNotifier(options.slack, mode, options.main_process))
    if options.telegram:
        from .telegram import TelegramNotifier

        found.append(TelegramNotifier(options.telegram, mode, options.main_process))
    if mode is not None and not found:
        from ..stores.base import StoreError

        raise StoreError(f"--sacred-notify {mode} given without --sacred-slack or "
                         "--sacred-telegram")
    return found
