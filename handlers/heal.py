"""Heal Lambda: every hour, refetch the recent missing 5-minute slots into raw/ (docs/heal.md).

Recent gaps come from reports/_state/coverage.json, which each curation run keeps (one GET, no
Athena query: the hourly heal stays within the stack's $2 a month); the raw batches it stores
are curated by the hourly curate function half an hour later, like the fetcher's. Older gaps:
`nebula heal` over the whole lake. A run that records unrecoverable slots publishes one message
to the stack's alarm topic; a run that raises reaches the topic through its on-failure
destination.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from nebulastream import heal
from nebulastream.edge import SourcePool, make_lake
from nebulastream.settings import get_settings
from nebulastream.timeutil import utcnow

logger = Logger(service="nebula-heal")
copy_config_to_registered_loggers(source_logger=logger, include={"nebulastream"})

# Built once per container, reused across invocations.
settings = get_settings()
lake = make_lake(settings, s3_client=boto3.client("s3"))
sns = boto3.client("sns")


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    """One heal of the configured coins over the days the coverage state holds."""
    now = utcnow()
    pool = SourcePool(settings)
    try:
        chains = heal.chains(settings.ranked_sources, pool.listed)
        job = heal.Job(heal.load_coverage(lake), settings.coins, chains, now)
        result = job.run(lake, pool.fetch)
    finally:
        pool.close()
    summary = result.summary()
    logger.info("healed", extra=summary)
    if result.given_up and settings.alert_topic_arn:
        sns.publish(
            TopicArn=settings.alert_topic_arn,
            Subject="NebulaStream: slots no source has",
            Message=json.dumps(heal.given_up_message(result), indent=1),
        )
    return summary
