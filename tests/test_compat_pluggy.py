"""The two places pytest-sacred reaches into pluggy (pytest_sacred.compat): they must keep
working, or these tests fail on the pluggy release that changes them."""

from __future__ import annotations

import pluggy

from pytest_sacred.compat import order_plain_hookimpls, replace_hookimpl_function

spec = pluggy.HookspecMarker("demo")
impl = pluggy.HookimplMarker("demo")


class Spec:
    @spec
    def demo_event(self, value: int) -> None:
        """An event."""


class Plugin:
    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls

    @impl
    def demo_event(self, value: int) -> None:
        self.calls.append((self.name, value))


def _manager(calls: list, names: list[str]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("demo")
    pm.add_hookspecs(Spec)
    for name in names:
        pm.register(Plugin(name, calls), name)
    return pm


def test_replaced_function_is_what_pluggy_calls() -> None:
    calls: list = []
    pm = _manager(calls, ["a"])
    (hookimpl,) = pm.hook.demo_event.get_hookimpls()
    original = hookimpl.function
    replace_hookimpl_function(
        hookimpl, lambda value: calls.append(("guard", value)) or original(value))
    pm.hook.demo_event(value=3)
    assert calls == [("guard", 3), ("a", 3)]


def test_reordering_changes_the_call_order_and_leaves_wrappers_alone() -> None:
    calls: list = []
    pm = _manager(calls, ["a", "b", "c"])

    class Wrapper:
        @impl(wrapper=True)
        def demo_event(self, value: int):
            calls.append(("wrap-in", value))
            yield
            calls.append(("wrap-out", value))

    pm.register(Wrapper(), "w")
    pm.hook.demo_event(value=1)
    assert [c[0] for c in calls] == ["wrap-in", "c", "b", "a", "wrap-out"]
    rank = {"a": 0, "b": 1, "c": 2}
    order_plain_hookimpls(pm.hook.demo_event, lambda i: rank[i.plugin.name])
    calls.clear()
    pm.hook.demo_event(value=2)
    assert [c[0] for c in calls] == ["wrap-in", "a", "b", "c", "wrap-out"]
