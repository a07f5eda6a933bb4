"""The Google Cloud Storage store: Sacred's FileStorage layout in a bucket."""
