"""Heal Lambda: every hour, refetch the lake's missing 5-minute slots into raw/ (docs/heal.md).

Gaps are found over Athena (as the API reads prices); the raw batches it stores are curated
by the hourly curate function (30 minutes later), like the fetcher's. Unrecoverable slots are
recorded in reports/_state/unrecoverable.json; a run that records new ones logs
`unrecoverable_new` > 0 (a metric filter alarms on it) and a failed run raises (an alarm too).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from nebulastream import heal
from nebulastream.edge import SourcePool, make_engine, make_lake
from nebulastream.query import service
from nebulastream.settings import get_settings
from nebulastream.timeutil import utcnow

logger = Logger(service="nebula-heal")
copy_config_to_registered_loggers(source_logger=logger, include={"nebulastream"})

# Built once per container, reused across invocations.
settings = get_settings()
lake = make_lake(settings, s3_client=boto3.client("s3"))
engine = make_engine(settings)


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    """One heal of every configured coin over the whole lake."""
    now = utcnow()
    coverages = service.coverage(engine, now, settings.raw_lookback_days, coins=settings.coins)
    pool = SourcePool(settings)
    try:
        chains = heal.chains(settings.source_priority, pool.listed)
        result = heal.Job(coverages, settings.coins, chains, now).run(lake, pool.fetch)
    finally:
        pool.close()
    summary = result.summary()
    logger.info("healed", extra=summary)
    return summary
