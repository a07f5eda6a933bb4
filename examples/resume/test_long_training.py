"""A long run that survives being stopped: its state is kept in ``tmp_path / "checkpoint"``.

Stop it (Ctrl-C, SIGTERM, a Slurm time limit) and ``pytest examples/resume/
--sacred-resume ID`` continues the same run: the checkpoint is put back before the body
runs, and the loss curve goes on from the step it reached.
"""

import json
import os
import time

import pytest

from pytest_sacred import config


@config
def steps():
    """Training steps in all."""
    return 300


@pytest.mark.experiment("long_training")
def test_long_training(steps, sacred_run, tmp_path):
    state = tmp_path / "checkpoint" / "state.json"
    start = json.loads(state.read_text())["step"] + 1 if state.exists() else 0
    state.parent.mkdir(exist_ok=True)
    for step in range(start, steps):
        time.sleep(0.01)  # one step of training
        sacred_run.log_scalar("loss", 1 / (step + 1), step)
        # written whole (a new file renamed over the old): a heartbeat never stores half
        state.with_suffix(".tmp").write_text(json.dumps({"step": step}))
        os.replace(state.with_suffix(".tmp"), state)
    return sacred_run.resumed  # how many times this run was resumed
