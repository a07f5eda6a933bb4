"""The S3 store: Sacred's FileStorage layout in a bucket, through boto3."""
