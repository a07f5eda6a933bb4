"""Each private pytest API of ``pytest_sacred.compat``, checked in a real session: when a
pytest release changes one, the test of that function fails here."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("capture", ["fd", "sys"])
def test_global_capture_gives_the_output_of_the_phase_so_far(pytester, capture):
    pytester.makepyfile(test_live='''
        import sys
        from pytest_sacred import compat, output

        def test_live(request):
            assert compat.global_capture(request.config) is not None
            print("to stdout")
            sys.stderr.write("to stderr\\n")
            live = output.peek(request.config)
            assert live == ("to stdout\\n", "to stderr\\n")
            print("more")
            # reading leaves pytest's capture alone: it still reports everything
            assert output.peek(request.config)[0] == "to stdout\\nmore\\n"
        ''')
    result = pytester.runpytest(f"--capture={capture}", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Captured stdout call*", "to stdout", "more"])


def test_no_global_capture_with_s(pytester):
    pytester.makepyfile(test_live='''
        from pytest_sacred import compat, output

        def test_live(request):
            capturing = compat.global_capture(request.config)
            assert capturing is None or (capturing.out is None and capturing.err is None)
            assert output.peek(request.config) is None
        ''')
    pytester.runpytest("-s").assert_outcomes(passed=1)


def test_periodic_heartbeats_carry_the_output_printed_before_them(pytester):
    """The live-output path end to end: without it a beat during the body would carry no
    output until the final one."""
    pytester.makeconftest('''
        OUTPUTS = []

        def pytest_sacred_heartbeat_event(captured_out):
            OUTPUTS.append(captured_out)
        ''')
    pytester.makepyfile(test_live='''
        import time
        import pytest

        @pytest.mark.experiment
        def test_live(request):
            [outputs] = [p.OUTPUTS for p in request.config.pluginmanager.get_plugins()
                         if hasattr(p, "OUTPUTS")]
            print("epoch 1 done")
            # the second beat from now began after the print
            target, deadline = len(outputs) + 2, time.monotonic() + 120
            while len(outputs) < target:
                assert time.monotonic() < deadline, "no heartbeat in 120 s"
                time.sleep(0.01)
            assert outputs[-1] == "epoch 1 done\\n"
        ''')
    pytester.runpytest("--sacred-heartbeat", "0.05").assert_outcomes(passed=1)


def test_conftest_modules_lists_the_conftests_above_a_path(pytester):
    pytester.makeconftest("LEVEL = 'root'")
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text("LEVEL = 'sub'\n")
    (sub / "test_entry_site.py").write_text('''
from pathlib import Path
from pytest_sacred import compat

def test_where(request):
    modules = compat.conftest_modules(request.config, Path(__file__))
    assert [m.LEVEL for m in modules] == ["root", "sub"]
    at_root = compat.conftest_modules(request.config, Path(__file__).parent.parent)
    assert [m.LEVEL for m in at_root] == ["root"]
''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_report_sections_hold_the_setup_output_during_the_call(pytester):
    pytester.makepyfile(test_sections='''
        import pytest
        from pytest_sacred import compat

        @pytest.fixture
        def data():
            print("loading data")
            return 1

        def test_sections(data, request):
            sections = compat.report_sections(request.node)
            assert ("setup", "stdout", "loading data\\n") in sections
        ''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixture_definitions_of_the_closure_nearest_last(pytester):
    pytester.makeconftest('''
        import pytest

        @pytest.fixture
        def value():
            return "conftest"
        ''')
    pytester.makepyfile(test_defs='''
        import pytest
        from pytest_sacred import compat

        @pytest.fixture
        def value(value):
            return "module"

        @pytest.fixture
        def unused():
            return 0

        def test_defs(value, request):
            defs = compat.fixture_definitions(request.node)
            assert [d.func.__module__ for d in defs["value"]] == ["conftest", "test_defs"]
            assert "unused" not in defs
            visible = compat.visible_fixture_definitions(request.node, "unused")
            assert [d.func() for d in visible] == [0]
            assert list(compat.visible_fixture_definitions(request.node, "nowhere")) == []
        ''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_shown_at_line_makes_pytest_locate_a_function_at_that_line(pytester):
    pytester.makepyfile(test_shown='''
        import functools
        import traceback
        from _pytest.compat import getlocation
        from pytest_sacred import compat

        def fails():
            raise ValueError("boom")

        @functools.lru_cache(
            maxsize=None,
        )
        def decorated():
            return 1

        def test_shown():
            stand_in = compat.shown_at_line(decorated.__wrapped__, 13)
            assert getlocation(stand_in).endswith("test_shown.py:13")
            assert stand_in.__name__ == "decorated"
            assert stand_in.__doc__ == decorated.__doc__
            # the original keeps its line numbers
            moved = compat.shown_at_line(fails, 20)
            assert getlocation(moved).endswith("test_shown.py:20")
            try:
                fails()
            except ValueError as exc:
                assert traceback.extract_tb(exc.__traceback__)[-1].lineno == 7
        ''')
    pytester.runpytest().assert_outcomes(passed=1)


def test_setup_for_gives_the_rootdir_and_ini_file_of_a_command_line(pytester, tmp_path):
    """pytest's own rule, with every option known: an option's value is no test path, a
    test path outside the project moves the rootdir (and loses the project's ini file),
    ``--rootdir`` and ``-o`` are read as pytest reads them."""
    outside = str(tmp_path)  # beside the pytester project
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_setup=f'''
        from pathlib import Path
        from pytest_sacred.compat import setup_for

        OUTSIDE = {outside!r}

        def test_setup(request):
            config = request.config
            ini = Path.cwd() / "tox.ini"
            assert (config.rootpath, config.inipath) == (Path.cwd(), ini)
            assert setup_for(config, ["--sacred-tinydb", OUTSIDE, "test_setup.py"]) == (
                ["test_setup.py"], Path.cwd(), ini)
            assert setup_for(config, [OUTSIDE]) == ([OUTSIDE], Path(OUTSIDE).parent, None)
            assert setup_for(config, ["--rootdir", OUTSIDE, "-o", "x=y"]) == (
                [], Path(OUTSIDE), ini)
        ''')
    pytester.runpytest().assert_outcomes(passed=1)
