"""Seeding: the same seed gives the same numbers; every run records its seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import stored_runs

pytest.importorskip("numpy")



DRAWS = """
    import random

    import numpy
    import pytest
    from pytest_sacred import config

    @config
    def init(seed):
        return seed * 2 + 1

    @pytest.mark.experiment
    def test_draw(init, seed, rnd):
        return {
            "seed": seed,
            "random": [random.random() for _ in range(3)],
            "numpy": numpy.random.rand(3).tolist(),
            "rnd": rnd.random(3).tolist(),
            "init": init,
        }
"""


@pytest.fixture
def draws(pytester: pytest.Pytester, runs_dir: Path):
    pytester.makepyfile(test_draws=DRAWS)

    def session(*args: str) -> dict:
        before = set(stored_runs(runs_dir))
        pytester.runpytest("test_draws.py", *args).assert_outcomes(passed=1)
        new = {k: v for k, v in stored_runs(runs_dir).items() if k not in before}
        assert len(new) == 1
        return next(iter(new.values()))

    return session


def check_consistent(run: dict) -> None:
    """The seed fixture and the derived entry saw the run's stored seed."""
    seed = run["config"]["seed"]
    assert isinstance(seed, int)
    assert run["result"]["seed"] == seed
    assert run["config"]["init"] == seed * 2 + 1
    assert run["result"]["init"] == seed * 2 + 1


@pytest.mark.parametrize("option", [["--sacred-seed", "5"], ["--sacred-with", "seed=5"]],
                         ids=["sacred-seed", "sacred-with"])
def test_same_seed_same_numbers(draws, option: list[str], runs_dir: Path) -> None:
    first = draws(*option)
    # something else in between, so the second session does not start from a fresh state
    import random

    import numpy

    random.random()
    numpy.random.rand()
    second = draws(*option)
    for run in (first, second):
        assert run["config"]["seed"] == 5
        assert run["config"]["init"] == 11
        check_consistent(run)
    assert first["result"] == second["result"]
    # three distinct generators were drawn from (not one value reported thrice)
    assert len({tuple(first["result"][k]) for k in ("random", "numpy", "rnd")}) == 3


def test_same_seed_in_separate_processes(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(test_draws=DRAWS)
    for _ in range(2):
        pytester.runpytest_subprocess("test_draws.py", "--sacred-seed", "5",
                                      "-p", "no:cacheprovider").assert_outcomes(passed=1)
    runs = stored_runs(runs_dir)
    assert sorted(runs) == [1, 2]
    assert runs[1]["result"] == runs[2]["result"]
    assert runs[1]["config"]["seed"] == runs[2]["config"]["seed"] == 5


def test_without_seed_runs_differ(draws) -> None:
    first = draws()
    second = draws()
    assert first["config"]["seed"] != second["config"]["seed"]
    for run in (first, second):
        assert run["result"]["seed"] == run["config"]["seed"]
    assert first["result"]["random"] != second["result"]["random"]
    assert first["result"]["numpy"] != second["result"]["numpy"]
    assert first["result"]["rnd"] != second["result"]["rnd"]


SEEDED_VARIANTS = """
    import pytest
    from pytest_sacred import config

    @config
    def init(seed):
        return seed % 1000

    @pytest.mark.experiment
    @pytest.mark.parametrize("x", [1, 2, 3])
    def test_seeded(x, init, seed, sacred_run):
        assert sacred_run.config["seed"] == seed
        return [seed, init]
"""


def test_seed_fixture_equals_stored_seed(pytester: pytest.Pytester, runs_dir: Path) -> None:
    pytester.makepyfile(SEEDED_VARIANTS)
    pytester.runpytest().assert_outcomes(passed=3)
    runs = stored_runs(runs_dir)
    assert len(runs) == 3
    for run in runs.values():
        assert run["result"][0] == run["config"]["seed"]
    # each variant has a seed of its own
    assert len({run["config"]["seed"] for run in runs.values()}) == 3


@pytest.mark.parametrize("option", [[], ["--sacred-seed", "5"]], ids=["random", "given"])
def test_entry_deriving_from_seed_sees_the_run_seed(pytester: pytest.Pytester, runs_dir: Path,
                                                     option: list[str]) -> None:
    pytester.makepyfile(SEEDED_VARIANTS)
    pytester.runpytest(*option).assert_outcomes(passed=3)
    runs = stored_runs(runs_dir)
    assert len(runs) == 3
    for run in runs.values():
        seed, init = run["result"]
        assert init == run["config"]["init"]
        assert init == run["config"]["seed"] % 1000 == seed % 1000


def test_numpy_imported_by_the_run_is_seeded_on_import(pytester: pytest.Pytester) -> None:
    # in a fresh process nothing has imported numpy: pytest-sacred must not import it for
    # seeding, yet the numbers drawn after the run imports it are the seeded ones
    pytester.makepyfile("""
        import sys
        import pytest

        @pytest.mark.experiment
        @pytest.mark.parametrize("x", [1, 2])
        def test_lazy(seed, x):
            if x == 1:
                assert "numpy" not in sys.modules
            import numpy
            drawn = numpy.random.rand(3).tolist()
            numpy.random.seed(seed % 2**32)
            assert numpy.random.rand(3).tolist() == drawn
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_imports_after_the_run_are_not_seeded() -> None:
    import sys

    from pytest_sacred import seeding

    seeding.seed_globals(5)
    assert seeding._ON_IMPORT in sys.meta_path
    seeding.forget()
    assert seeding._ON_IMPORT not in sys.meta_path
