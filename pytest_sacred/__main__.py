"""``python -m pytest_sacred replay SPILL``: until the ``pytest-sacred`` command (cli.py)
takes the subcommand over."""

import sys

from .spill import main

if len(sys.argv) < 2 or sys.argv[1] != "replay":
    sys.exit("usage: python -m pytest_sacred replay SPILL [--store STORE]")
sys.exit(main(sys.argv[2:]))
