"""Curate Lambda: every hour, the one curation pipeline on its DuckDB engine over the S3 lake.

Same pipeline, manifest and lease as the nightly Glue Spark job (glue/curate_job.py): a run
that finds the lease held (the Glue job, or a run still going) does not wait and writes
nothing; the next hour's run picks the batches up. duckdb and pyarrow come from the
function's layer (scripts/curation_layer.py), not from the shared code package.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from nebulastream.curation.duckdb_engine import DuckDBEngine
from nebulastream.curation.lease import LeaseHeldError
from nebulastream.curation.pipeline import curate
from nebulastream.edge import make_curation_config, make_lake
from nebulastream.settings import get_settings
from nebulastream.timeutil import utcnow

logger = Logger(service="nebula-curate")
copy_config_to_registered_loggers(source_logger=logger, include={"nebulastream"})

# Built once per container, reused across invocations.
settings = get_settings()
lake = make_lake(settings, s3_client=boto3.client("s3"))
config = make_curation_config(settings)


@logger.inject_lambda_context(log_event=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    """One incremental run. A held lease is a clean skip; any other failure raises (alarm)."""
    engine = DuckDBEngine()
    try:
        report = curate(
            lake,
            engine,
            config=config,
            now=utcnow(),
            owner=f"curate lambda {context.function_name} request {context.aws_request_id}",
            wait_seconds=0,
            warn=logger.warning,
        )
    except LeaseHeldError as error:
        logger.info("skipped: the lake is being curated", extra={"reason": str(error)})
        return {"status": "skipped", "reason": str(error)}
    finally:
        engine.close()
    summary: dict[str, object] = {
        "status": "curated",
        "batches_changed": report.batches_changed,
        "batches_read": report.batches_read,
        "summary": report.summary(),
    }
    logger.info("curated", extra=summary)
    return summary
