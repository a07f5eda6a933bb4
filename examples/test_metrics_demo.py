"""A dependency-free experiment: a toy training loop logging metrics and writing an artifact."""

import math
import random

import pytest

from pytest_sacred import capture, config, named_config


@config
def epochs():
    """Number of passes over the toy data."""
    return 20


@config
def learning_rate():  # step size of the toy optimiser
    return 0.1


@capture
def noisy_loss(epoch, learning_rate):
    """Config injection: learning_rate comes from the run's config."""
    return math.exp(-learning_rate * epoch) + random.random() * 0.01


@pytest.mark.experiment("toy_training")
@pytest.mark.named_configs("slow", "fast")
@pytest.mark.usefixtures("learning_rate")  # in the config, used through noisy_loss
def test_training(epochs, sacred_run, tmp_path):
    for epoch in range(epochs):
        loss = noisy_loss(epoch)
        sacred_run.log_scalar("train.loss", loss, step=epoch)
        print(f"epoch {epoch}: loss {loss:.4f}")
    sacred_run.info["final_epoch"] = epochs - 1
    (tmp_path / "curve.csv").write_text("\n".join(str(x) for x in range(epochs)))
    return loss


@named_config
def slow():
    """Small steps."""
    return {"learning_rate": 0.01}


@named_config
def fast():
    """Big steps, fewer epochs."""
    return {"learning_rate": 0.5, "epochs": 5}
