"""Sacred's FileStorage layout in an object store bucket, shared by the S3 and GCS stores."""
