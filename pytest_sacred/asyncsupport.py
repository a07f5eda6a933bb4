"""``async def`` experiments: run by pytest-asyncio or anyio, which await them; never faked.

pytest itself cannot run a coroutine function: without a plugin that awaits it, the body
would never run while the run looked complete. So such an experiment is a usage error
unless a plugin will await it.
"""

from __future__ import annotations

import inspect

import pytest


def _awaited_by_plugin(item: pytest.Item) -> bool:
    config = item.config
    pm = config.pluginmanager
    if pm.has_plugin("asyncio"):  # pytest-asyncio: marked, or every coroutine in auto mode
        if item.get_closest_marker("asyncio") is not None:
            return True
        try:
            if config.getini("asyncio_mode") == "auto":
                return True
        except ValueError:
            pass
    if pm.has_plugin("anyio"):  # anyio's plugin: tests marked anyio, or asking for a backend
        fixtures = getattr(item, "fixturenames", ())
        return item.get_closest_marker("anyio") is not None or "anyio_backend" in fixtures
    return False


def unrunnable_reason(item: pytest.Item) -> str | None:
    """Why an experiment cannot run as written, or ``None`` when it can."""
    function = getattr(item, "obj", None)
    if not inspect.iscoroutinefunction(function) or _awaited_by_plugin(item):
        return None
    return (f"{item.nodeid} is an async def experiment, but no plugin will await it: "
            "install pytest-asyncio and mark it @pytest.mark.asyncio (or set asyncio_mode = "
            "auto), or mark it @pytest.mark.anyio with anyio installed")
