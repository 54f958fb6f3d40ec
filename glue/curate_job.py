"""Glue job: wiring only. Job arguments in, the curation pipeline on the Spark engine, out.

    --lake_uri s3://bucket[/prefix]   the lake (required)
    --full true|false                 rebuild every day from raw (default false)
    --spike_factor 1.5                curation knobs (definition.CurationConfig)
    --slot_seconds 300
    --lease_wait_seconds 300          how long to wait for another curation run

On AWS Glue (it passes --JOB_NAME) the arguments are resolved with awsglue's
getResolvedOptions and the run is committed with job.commit(); Glue's job bookmarks stay off,
the lake's manifest is the bookmark. Anywhere else the same script runs under plain PySpark:
`python glue/curate_job.py --lake_uri ./.nebula`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

OPTIONS = {
    "full": "false",
    "spike_factor": "1.5",
    "slot_seconds": "300",
    "lease_wait_seconds": "300",
}


def resolve_arguments(argv: Sequence[str], on_glue: bool) -> dict[str, str]:
    """The job's arguments; the optional ones take their defaults."""
    if on_glue:
        from awsglue.utils import getResolvedOptions

        given = [name for name in OPTIONS if f"--{name}" in argv]
        names = ["JOB_NAME", "JOB_RUN_ID", "lake_uri", *given]
        return {**OPTIONS, **getResolvedOptions(list(argv), names)}
    parser = argparse.ArgumentParser(description="Curate a NebulaStream lake on Spark.")
    parser.add_argument("--lake_uri", required=True)
    for name, default in OPTIONS.items():
        parser.add_argument(f"--{name}", default=default)
    return dict(vars(parser.parse_args(argv[1:])))


def main(argv: Sequence[str]) -> int:
    from pyspark.sql import SparkSession

    from nebulastream.curation.definition import CurationConfig
    from nebulastream.curation.pipeline import curate
    from nebulastream.curation.spark_engine import SparkEngine
    from nebulastream.lake.storage import LakeError, open_lake
    from nebulastream.timeutil import utcnow

    on_glue = "--JOB_NAME" in argv  # Glue passes it; a job does not run on Glue without it
    args = resolve_arguments(argv, on_glue)
    job: Any = None
    if on_glue:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        glue = GlueContext(SparkContext.getOrCreate())
        job = Job(glue)
        job.init(args["JOB_NAME"], args)
        spark: Any = glue.spark_session
        owner = f"glue job {args['JOB_NAME']} run {args['JOB_RUN_ID']}"
    else:  # one machine: a few shuffle partitions, not Spark's 200 (10x slower locally)

        def spark() -> SparkSession:
            return (
                SparkSession.builder.appName("nebula-curate")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.ui.enabled", "false")
                .getOrCreate()
            )

        owner = "spark curate_job.py"
    uri = args["lake_uri"]
    try:
        if uri.startswith("s3://"):
            import boto3

            lake: Any = open_lake(uri, s3_client=boto3.client("s3"))
        else:
            lake = open_lake(uri)
        config = CurationConfig(
            spike_factor=float(args["spike_factor"]), slot_seconds=int(args["slot_seconds"])
        )
        report = curate(
            lake,
            SparkEngine(spark),
            config=config,
            now=utcnow(),
            full=args["full"].lower() == "true",
            owner=owner,
            wait_seconds=float(args["lease_wait_seconds"]),
            warn=lambda line: print(f"warning: {line}", file=sys.stderr),
        )
    except (LakeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    if job is not None:
        job.commit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
