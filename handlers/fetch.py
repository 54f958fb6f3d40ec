"""Fetch Lambda: EventBridge's scheduled event -> one raw batch for its 5-minute slot."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from nebulastream.alerts.edge import Alerts, make_senders
from nebulastream.edge import CurrentSpotSource, make_lake
from nebulastream.ingest import fetch_spot
from nebulastream.settings import get_settings
from nebulastream.timeutil import floor_to, parse_time, utcnow

logger = Logger(service="nebula-fetch")
copy_config_to_registered_loggers(source_logger=logger, include={"nebulastream"})

# Built once per container, reused across invocations. The CoinGecko key is read from SSM at
# run time (NEBULA_COINGECKO_API_KEY_PARAMETER), cached for the container: never in the env.
settings = get_settings()
s3 = boto3.client("s3")
lake = make_lake(settings, s3_client=s3)
# The registry's first spot source by NEBULA_SOURCE_PRIORITY, with the key in force.
source = CurrentSpotSource(settings)
# Alert rules are evaluated after every fetch, stored or failed (docs/alerts.md).
alerts = Alerts(settings, lake, make_senders(settings, emit=logger.warning), s3_client=s3)


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    """The slot is the event's scheduled `time`, so a retried invocation rewrites the same batch.

    Raises (SourceError) when no coin could be stored, so Lambda's asynchronous retries and
    the on-failure destination apply.
    """
    scheduled = parse_time(event["time"]) if event.get("time") else utcnow()
    with alerts.evaluated_after(owner=context.aws_request_id):
        result = fetch_spot(
            source(), lake, slot=floor_to(scheduled, settings.fetch_interval_seconds), now=utcnow()
        )
    summary = result.summary()
    logger.info("stored raw batch", extra=summary)
    return summary
