"""Sacred's MongoDB layout: writer, GridFS uploads, value encoding, reader."""
