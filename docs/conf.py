"""Sphinx configuration of the pytest-sacred manual (``tox -e docs`` builds it with -W)."""

from __future__ import annotations

import sys
from pathlib import Path

# autodoc imports the package from this tree, whatever is installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "pytest-sacred"
author = "pytest-sacred's authors"
copyright = "pytest-sacred's authors"

extensions = [
    "myst_parser",  # the pages are Markdown, readable on a forge as well
    "sphinx.ext.autodoc",  # the hook specifications, from pytest_sacred/hookspecs.py
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# the payloads' TypedDicts are named in the hook signatures but documented as text
nitpicky = False

html_theme = "furo"
html_title = "pytest-sacred"
html_static_path = ["_static"]
