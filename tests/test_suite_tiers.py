"""The suite's quick tier: ``system`` is set from the fixtures a test uses (tests/conftest.py)."""

from __future__ import annotations

import pytest


def test_a_test_using_pytester_is_marked_system(pytester: pytest.Pytester,
                                                 request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is not None


@pytest.fixture
def through_another_fixture(pytester: pytest.Pytester) -> pytest.Pytester:
    return pytester


def test_a_fixture_using_pytester_marks_its_tests_system(
        through_another_fixture: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is not None


def test_a_plain_test_is_not_marked(tmp_path, request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("system") is None
