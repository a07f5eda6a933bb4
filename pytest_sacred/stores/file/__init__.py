"""Sacred's FileStorage layout in a directory: writer, layout, reader."""
