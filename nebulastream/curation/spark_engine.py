"""The Spark engine of the curation pipeline: AWS Glue 5.0 (Spark 3.5), or local PySpark.

Raw batches are read by Spark's JSON reader (unparseable lines kept with corrupt_record set,
so the rule `well_formed` quarantines them), the definition's SQL runs on Spark SQL, and the
curated days are written by Spark to a staging prefix (one file per day), then each is copied
over `curated/dt=.../prices.parquet` in one PUT, so a reader sees a day either before or after
the run, never half-written. Imported only where pyspark exists (the Glue job, the tests).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
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

from nebulastream.curation.definition import RAW_INPUT_COLUMNS, SPARK, Dialect
from nebulastream.curation.outputs import PARQUET, VersionedLake
from nebulastream.lake.layout import STAGING, curated_key
from nebulastream.lake.storage import LakeStorage
from nebulastream.schema import CURATED_COLUMNS, PARTITION_COLUMN

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
# A raw batch key inside whatever URI Spark reports for the file.
RAW_KEY_PATTERN = r"(raw/dt=[^/]+/[^/]+)$"


def configure(spark: SparkSession) -> None:
    for name, value in SPARK_CONF.items():
        spark.conf.set(name, value)


def lake_root_uri(lake: LakeStorage) -> str:
    """The lake's root as a Hadoop URI with a trailing slash (s3://... or file:///...)."""
    root = lake.uri.rstrip("/")
    return f"{root}/" if "://" in root else f"file://{root}/"


def read_raw_batches(spark: SparkSession, lake: LakeStorage, keys: Sequence[str]) -> DataFrame:
    """The given raw batches with Spark's own JSON reader, as RAW_INPUT_COLUMNS."""
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


class SparkEngine:
    """Stages are cached temp views of one Spark session (built on first use, if a factory)."""

    runner = "spark"
    dialect: Dialect = SPARK

    def __init__(self, spark: SparkSession | Callable[[], SparkSession]) -> None:
        self._spark = spark
        self._session: SparkSession | None = None
        self._cached: list[DataFrame] = []

    @property
    def spark(self) -> SparkSession:
        if self._session is None:
            session = self._spark if isinstance(self._spark, SparkSession) else self._spark()
            configure(session)
            self._session = session
        return self._session

    def load_raw(self, lake: VersionedLake, keys: Sequence[str]) -> None:
        read_raw_batches(self.spark, lake, keys).createOrReplaceTempView("raw_lines")

    def register(self, name: str, rows: list[tuple[Any, ...]], columns: dict[str, str]) -> None:
        schema = ", ".join(f"{column} {kind}" for column, kind in columns.items())
        self.spark.createDataFrame(rows, schema).createOrReplaceTempView(name)

    def create(self, name: str, sql: str) -> int:
        frame = self.spark.sql(sql).cache()
        frame.createOrReplaceTempView(name)
        self._cached.append(frame)
        return int(frame.count())

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(sql).collect()]

    def write_days(self, lake: VersionedLake, sql: str) -> list[str]:
        """One Parquet file per day: Spark writes to staging, then each file replaces its day."""
        staging = f"{STAGING}{uuid.uuid4().hex}/"
        staging_uri = lake_root_uri(lake) + staging
        (
            self.spark.sql(sql)
            .repartition(PARTITION_COLUMN)  # a day's rows in one task: one file per day
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
            self._delete_tree(staging_uri)
        if len(set(written)) != len(written):
            raise RuntimeError(f"Spark wrote more than one file for a day in {staging_uri}")
        return sorted(written)

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        self._cached.clear()

    def _delete_tree(self, uri: str) -> None:
        # Through Hadoop's FileSystem, which knows s3:// on Glue and file:// locally alike.
        context = self.spark.sparkContext
        jvm: Any = context._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        path.getFileSystem(context._jsc.hadoopConfiguration()).delete(path, True)


def _staged_day(key: str, staging: str) -> str | None:
    parts = key[len(staging) :].split("/")
    if len(parts) == 2 and parts[0].startswith("dt=") and parts[1].endswith(".parquet"):
        return parts[0][len("dt=") :]
    return None
