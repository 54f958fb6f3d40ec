"""API Lambda: API Gateway HTTP API (payload 2.0) -> the FastAPI app, via Mangum."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from mangum import Mangum

from api.app import app
from api.stage import StageRootPath

# Error causes are logged as JSON under the request id the error body gives the client.
logger = Logger(service="nebula-api")
copy_config_to_registered_loggers(source_logger=logger, include={"api", "nebulastream"})

# Settings and the engine are built once per container, on the first request (api.deps).
handler = Mangum(StageRootPath(app), lifespan="off")
