"""Artifact uploads in GridFS's layout with two round trips instead of four.

pymongo's ``GridFS.put`` looks into ``fs.files`` and ``fs.chunks`` before every upload (to
create their indexes on a new database): two queries per artifact, a third of a short
run's traffic. Here the indexes are ensured once per database and session, and a file is
its chunk documents (one ``insert_many``) and then its ``fs.files`` document, the order
GridFS writes them, so a reader never sees a file without its chunks. The documents are
those of the GridFS specification, which GridFS readers (pymongo, Omniboard, Incense) read.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, BinaryIO

#: pymongo's default chunk size (255 KiB)
CHUNK_SIZE = 255 * 1024


class GridFiles:
    """Writes whole files to one database's GridFS bucket ``fs``."""

    def __init__(self, database: Any) -> None:
        self._db = database
        self._indexed = False

    def _ensure_indexes(self) -> None:
        if not self._indexed:  # as GridFS creates them (create_index is idempotent)
            self._db["fs.files"].create_index([("filename", 1), ("uploadDate", 1)])
            self._db["fs.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
            self._indexed = True

    def put(self, source: BinaryIO, file_id: Any, filename: str, retry: bool = False,
            **fields: Any) -> None:
        """Store ``source``'s bytes as GridFS file ``file_id``. With ``retry`` (an earlier
        attempt may have written part of it): a complete file is kept, a partial one
        replaced."""
        from bson import Binary

        self._ensure_indexes()
        files, chunks = self._db["fs.files"], self._db["fs.chunks"]
        if retry:
            if files.find_one({"_id": file_id}, projection={"_id": 1}) is not None:
                return
            chunks.delete_many({"files_id": file_id})
        length, documents = 0, list[dict[str, Any]]()
        while True:
            data = source.read(CHUNK_SIZE)
            if not data:
                break
            documents.append({"files_id": file_id, "n": len(documents), "data": Binary(data)})
            length += len(data)
        if documents:
            chunks.insert_many(documents, ordered=True)
        now = datetime.now(timezone.utc)
        files.insert_one({
            "_id": file_id, "length": length, "chunkSize": CHUNK_SIZE, "filename": filename,
            # BSON keeps milliseconds, as GridFS rounds them
            "uploadDate": now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None),
            **{key: value for key, value in fields.items() if value is not None}})
