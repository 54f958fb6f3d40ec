"""The moto bucket the Lambda handler tests share: one name, created inside the mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from moto import mock_aws

BUCKET = "nebula-stream-test-data"


def mocked_bucket() -> Iterator[Any]:
    """An S3 client inside `mock_aws` with BUCKET created (clients after the mock starts)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
