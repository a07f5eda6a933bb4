"""Sacred's TinyDB layout (``metadata.json`` and ``hashfs/``): writer, value encoding, reader."""
