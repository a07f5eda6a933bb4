"""``python -m pytest_sacred``: the ``pytest-sacred`` command."""

import sys

from .cli import main

sys.exit(main())
