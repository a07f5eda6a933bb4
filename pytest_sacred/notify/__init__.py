"""Notifications at the end of a run or a session (Slack, Telegram): observers that
store nothing."""
