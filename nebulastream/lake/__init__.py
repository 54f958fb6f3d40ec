"""The lake: one storage interface over a local folder or an S3 bucket, and its key layout."""

from nebulastream.lake.layout import (
    CURATED,
    QUARANTINE,
    RAW,
    REPORTS,
    history_key,
    spot_key,
)
from nebulastream.lake.storage import LakeError, LakeStorage, LocalLake, S3Lake, open_lake

__all__ = [
    "CURATED",
    "QUARANTINE",
    "RAW",
    "REPORTS",
    "LakeError",
    "LakeStorage",
    "LocalLake",
    "S3Lake",
    "history_key",
    "open_lake",
    "spot_key",
]
