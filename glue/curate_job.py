"""Glue job: the curation definition on Spark (AWS Glue 5.0 = Spark 3.5, or plain local PySpark).

Job arguments: `--lake_uri s3://bucket[/prefix]` (raw/, curated/, quarantine/ and reports/
derive from it), optional `--spike_factor 1.5`, `--slot_seconds 300`, `--full true`; plus
Glue's own `--JOB_NAME` and `--job-bookmark-option job-bookmark-enable`. On Glue, job
bookmarks pick the raw batches new since the last run; under plain PySpark
(`python glue/curate_job.py --lake_uri ./.nebula`) the lake's manifest does, as for
`nebula transform`. The SQL is nebulastream.curation.definition's, the same text DuckDB runs.

Curated days are written by Spark to a staging prefix (one file per day) and then each is
copied over `curated/dt=.../prices.parquet` in one PUT, so a reader sees a day either
before or after the run, never half-written.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DoubleType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
)

from nebulastream.curation.definition import (
    RAW_INPUT_COLUMNS,
    SPARK,
    CurationConfig,
    accepted_days_sql,
    checked_sql,
    curated_sql,
    deduped_sql,
    touched_days,
)
from nebulastream.curation.outputs import (
    PARQUET,
    curated_days,
    publish_results,
    store_report,
)
from nebulastream.curation.report import RunReport
from nebulastream.lake.layout import RAW, STAGING, curated_key
from nebulastream.lake.storage import LakeStorage
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN
from nebulastream.timeutil import iso_z, utcnow

RUNNER = "spark"

# Session settings the definition relies on; set at run time so Glue's own session works too.
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",  # the definition's instants are UTC on every engine
    "spark.sql.parquet.compression.codec": "snappy",
    # Keep dt a string when curated/ is read back, as in DuckDB (hive_types), pyarrow, Athena.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}
_SPARK_TYPES: dict[str, DataType] = {
    "string": StringType(),
    "double": DoubleType(),
    # Parquet TIMESTAMP(MICROS, isAdjustedToUTC=false), as nebulastream.schema requires.
    "timestamp": TimestampNTZType(),
}
RAW_READ_SCHEMA = StructType(
    [StructField(n, _SPARK_TYPES[t]) for n, t in RAW_INPUT_COLUMNS.items() if n != "raw_key"]
)
CURATED_SPARK_SCHEMA = StructType(
    [StructField(n, _SPARK_TYPES[t]) for n, t in CURATED_COLUMNS.items()]
)
# A raw batch key inside whatever URI Spark or Glue reports for the file.
RAW_KEY_PATTERN = r"(raw/dt=[^/]+/[^/]+)$"


def configure(spark: SparkSession) -> None:
    for name, value in SPARK_CONF.items():
        spark.conf.set(name, value)


def lake_root_uri(lake: LakeStorage) -> str:
    """The lake's root as a Hadoop URI with a trailing slash (s3://... or file:///...)."""
    root = lake.uri.rstrip("/")
    return f"{root}/" if "://" in root else f"file://{root}/"


def read_raw_batches(spark: SparkSession, lake: LakeStorage, keys: Sequence[str]) -> DataFrame:
    """The given raw batches with Spark's own JSON reader; unparseable lines are kept with
    corrupt_record set (PERMISSIVE), so the rule `well_formed` quarantines them."""
    if not keys:
        return spark.createDataFrame([], RAW_READ_SCHEMA).withColumn("raw_key", F.lit(""))
    root = lake_root_uri(lake)
    frame = (
        spark.read.schema(RAW_READ_SCHEMA)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "corrupt_record")
        .json([root + key for key in keys])
    )
    return frame.withColumn(
        "raw_key", F.regexp_extract(F.col("_metadata.file_path"), RAW_KEY_PATTERN, 1)
    )


def bookmarked_raw_keys(frame: DataFrame, file_column: str = "raw_file") -> list[str]:
    """The raw batch keys a frame of raw lines came from, sorted.

    On Glue the frame is the job bookmark's: the new raw files read as one-column CSV (a
    separator and quote that JSON lines never hold), only to learn which batches are new.
    Their lines are then parsed by read_raw_batches, as on every runner, so a malformed line
    is quarantined rather than dropped by Glue's own JSON reader, and a batch of nothing but
    malformed lines is still selected.
    """
    key = F.regexp_extract(F.col(file_column).cast("string"), RAW_KEY_PATTERN, 1)
    rows = frame.select(key.alias("key")).where(F.col("key").endswith(".jsonl")).distinct()
    return sorted(row["key"] for row in rows.collect())


def conform_raw(frame: DataFrame, file_column: str = "raw_key") -> DataFrame:
    """Any frame of raw lines (Spark's reader, a Glue DynamicFrame) as RAW_INPUT_COLUMNS.

    Glue infers the schema per run, so a column may be missing (every value null) or typed
    differently; each is cast to the raw type, or null when absent.
    """
    present = set(frame.columns)
    columns = []
    for name, kind in RAW_INPUT_COLUMNS.items():
        spark_type = _SPARK_TYPES[kind]
        if name == "raw_key":
            column = F.regexp_extract(F.col(file_column).cast("string"), RAW_KEY_PATTERN, 1)
        elif name in present:
            column = F.col(name).cast(spark_type)
        else:
            column = F.lit(None).cast(spark_type)
        columns.append(column.alias(name))
    return frame.select(*columns)


def run(
    spark: SparkSession,
    lake: LakeStorage,
    raw: DataFrame,
    *,
    config: CurationConfig,
    now: datetime,
    full: bool = False,
) -> tuple[RunReport, list[str]]:
    """Curate `raw` (conformed raw lines) into the lake; returns the report and batches read."""
    clock = time.perf_counter()
    configure(spark)
    report = RunReport(
        runner=RUNNER, mode="full" if full else "incremental", lake=lake.uri, started_at=iso_z(now)
    )
    conform_raw(raw).createOrReplaceTempView("raw_lines")
    checked = spark.sql(checked_sql(SPARK, config, now)).cache()
    checked.createOrReplaceTempView("checked")
    batches = sorted(row[0] for row in checked.select("raw_key").distinct().collect())
    report.batches_read = len(batches)
    days = [row[0] for row in spark.sql(accepted_days_sql(SPARK)).collect()]

    present = curated_days(lake)
    paths = [] if full else [lake_root_uri(lake) + present[d] for d in days if d in present]
    existing = (
        spark.read.schema(CURATED_SPARK_SCHEMA).parquet(*paths)
        if paths
        else spark.createDataFrame([], CURATED_SPARK_SCHEMA)
    )
    existing.createOrReplaceTempView("existing")
    rows_existing = existing.count()
    spark.createDataFrame(
        touched_days(days, now, config), "dt string, start_us bigint, end_us bigint"
    ).createOrReplaceTempView("touched_days")
    deduped = spark.sql(deduped_sql(SPARK)).cache()
    deduped.createOrReplaceTempView("deduped")
    rows_written = deduped.count()

    written = write_days(spark, lake, spark.sql(curated_sql(SPARK)))
    publish_results(
        lake,
        lambda sql: [row.asDict() for row in spark.sql(sql).collect()],
        report,
        config=config,
        batches=batches,
        full=full,
        rows_existing=rows_existing,
        rows_written=rows_written,
        days_written=written,
    )
    checked.unpersist()
    deduped.unpersist()
    store_report(lake, report, clock)
    return report, batches


def write_days(spark: SparkSession, lake: LakeStorage, curated: DataFrame) -> list[str]:
    """One Parquet file per day: Spark writes to staging, then each file replaces its day."""
    staging = f"{STAGING}{uuid.uuid4().hex}/"
    staging_uri = lake_root_uri(lake) + staging
    (
        curated.repartition(PARTITION_COLUMN)  # a day's rows in one task: one file per day
        .sortWithinPartitions(PARTITION_COLUMN, "coin", "ts", "source")
        .write.mode("overwrite")
        .partitionBy(PARTITION_COLUMN)
        .parquet(staging_uri)
    )
    written = []
    try:
        for key in lake.list(staging):
            day = _staged_day(key, staging)
            if day is not None:
                # One PUT per day: S3 and LocalLake replace an object atomically.
                lake.put(curated_key(day), lake.get(key), PARQUET)
                written.append(day)
    finally:
        _delete_tree(spark, staging_uri)
    if len(set(written)) != len(written):
        raise RuntimeError(f"Spark wrote more than one file for a day in {staging_uri}")
    return sorted(written)


def _staged_day(key: str, staging: str) -> str | None:
    parts = key[len(staging) :].split("/")
    if len(parts) == 2 and parts[0].startswith("dt=") and parts[1].endswith(".parquet"):
        return parts[0][len("dt=") :]
    return None


def _delete_tree(spark: SparkSession, uri: str) -> None:
    # Through Hadoop's FileSystem, which knows s3:// on Glue and file:// locally alike.
    jvm: Any = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


def _option(argv: Sequence[str], name: str) -> str | None:
    flag = f"--{name}"
    for index, arg in enumerate(argv):
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


def config_from_args(argv: Sequence[str]) -> CurationConfig:
    values: dict[str, Any] = {}
    if (factor := _option(argv, "spike_factor")) is not None:
        values["spike_factor"] = float(factor)
    if (slot := _option(argv, "slot_seconds")) is not None:
        values["slot_seconds"] = int(slot)
    return CurationConfig(**values)


if __name__ == "__main__":  # pragma: no cover - Glue (or spark-submit) wiring only
    import boto3

    from nebulastream.curation.outputs import VersionedLake, record_batches, select_batches
    from nebulastream.lake.storage import open_lake

    argv = sys.argv
    lake_uri = _option(argv, "lake_uri")
    if not lake_uri:
        sys.exit("--lake_uri is required: s3://bucket[/prefix] or a local lake folder.")
    full = (_option(argv, "full") or "false").lower() == "true"
    config = config_from_args(argv)
    lake = open_lake(
        lake_uri, s3_client=boto3.client("s3") if lake_uri.startswith("s3://") else None
    )
    now = utcnow()
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
    except ImportError:  # plain PySpark: the manifest stands in for job bookmarks
        if not isinstance(lake, VersionedLake):
            sys.exit(f"{lake.uri}: this lake cannot tell which raw batches changed.")
        selection = select_batches(lake, full=full)
        if selection.keys or full:
            # One machine: a few shuffle partitions, not Spark's 200 (10x slower locally).
            spark = (
                SparkSession.builder.appName("nebula-curate")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.ui.enabled", "false")
                .getOrCreate()
            )
            raw = read_raw_batches(spark, lake, selection.keys)
            report, _ = run(spark, lake, raw, config=config, now=now, full=full)
            record_batches(lake, selection, full=full)
        else:  # nothing new: no JVM to start, only the (empty) report
            report = RunReport(
                runner=RUNNER, mode="incremental", lake=lake.uri, started_at=iso_z(now)
            )
            store_report(lake, report, time.perf_counter())
    else:
        from pyspark.context import SparkContext

        args = getResolvedOptions(argv, ["JOB_NAME", "lake_uri"])
        glue = GlueContext(SparkContext.getOrCreate())
        spark = glue.spark_session
        job = Job(glue)
        job.init(args["JOB_NAME"], args)
        if full:  # bypass the bookmark: every batch, as `nebula transform --full`
            raw = read_raw_batches(spark, lake, [k for k in lake.list(RAW) if k.endswith(".jsonl")])
        else:
            frame = glue.create_dynamic_frame.from_options(
                connection_type="s3",
                connection_options={
                    "paths": [lake_root_uri(lake) + RAW],
                    "recurse": True,
                    "attachFilename": "raw_file",
                },
                # Whole lines, unparsed: \u0001 and quotes-off keep each line one column.
                format="csv",
                format_options={"separator": "\u0001", "quoteChar": -1, "withHeader": False},
                transformation_ctx="raw_batches",  # the bookmark's name
            ).toDF()
            if "raw_file" not in frame.columns:
                frame = frame.withColumn("raw_file", F.input_file_name())
            raw = read_raw_batches(spark, lake, bookmarked_raw_keys(frame))
        report, _ = run(spark, lake, raw, config=config, now=now, full=full)
        job.commit()
    print(report.summary())
