"""Content digests: sources and resources are stored once per content."""

from __future__ import annotations

import hashlib
import os


def md5_of(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file's bytes, read in blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
