"""pytest-sacred: Sacred's experiment tracking as a pytest plugin.

Experiments are tests marked ``@pytest.mark.experiment``; their config entries are
fixtures declared with :func:`config`.
"""

from .decorators import capture, config, named_config
from .run import Run

__all__ = ["Run", "capture", "config", "named_config"]
__version__ = "0.1.0"
