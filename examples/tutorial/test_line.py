"""The README's tutorial: fit a line to noisy points by gradient descent.

    pytest examples/tutorial/ --sacred-file-storage=tutorial-runs
"""

import pytest

from pytest_sacred import config


@config
def learning_rate():
    """Step size of gradient descent."""
    return 0.2


@config
def epochs():
    """Passes over the data."""
    return 100


@pytest.mark.experiment("line_fit")
@pytest.mark.parametrize("noise", [0.1, 0.3])
def test_line(learning_rate, epochs, noise, rnd, sacred_run, tmp_path):
    xs = [i / 100 for i in range(100)]
    ys = [3 * x + 1 + noise * (2 * rnd.random() - 1) for x in xs]  # y = 3x + 1, noisy
    w = b = 0.0
    for epoch in range(epochs):
        errors = [w * x + b - y for x, y in zip(xs, ys)]
        grad_w = 2 * sum(e * x for e, x in zip(errors, xs)) / len(xs)
        grad_b = 2 * sum(errors) / len(xs)
        w -= learning_rate * grad_w
        b -= learning_rate * grad_b
        sacred_run.log_scalar("train.loss", sum(e * e for e in errors) / len(xs), step=epoch)
    (tmp_path / "line.txt").write_text(f"y = {w:.3f} x + {b:.3f}\n")  # kept as an artifact
    mean = sum(ys) / len(ys)
    residual = sum((w * x + b - y) ** 2 for x, y in zip(xs, ys))
    return 1 - residual / sum((y - mean) ** 2 for y in ys)  # R², the run's result
