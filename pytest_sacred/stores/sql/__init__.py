"""Sacred's SQL tables through SQLAlchemy: schema, writer, value encoding, reader."""
