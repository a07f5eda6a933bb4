"""The stores pytest-sacred writes and reads, one package per kind: ``file``, ``mongo``,
``tinydb``, ``sql``, ``s3`` and ``gcs`` (``objects`` holds the bucket layout S3 and GCS
share). Each package holds its kind's writer (an observer), its layout and value helpers,
and its reader. Beside them: what every shipped observer shares (:mod:`.base`, the write
queue in :mod:`.write_queue`, crash-safe files in :mod:`.atomic_file`) and the adapter that
feeds a Sacred observer (:mod:`.sacred_adapter`).

Nothing here imports a store's client library until that store is used.
"""
