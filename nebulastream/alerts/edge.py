"""Builders for the edges (CLI, fetch Lambda, API): settings in, the alert parts out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nebulastream.alerts import readings
from nebulastream.alerts.channels import ConsoleChannel, Sender, SnsChannel, WebhookChannel
from nebulastream.alerts.evaluate import Reading
from nebulastream.alerts.rules import Channel, Rule, RulesError, parse_rules
from nebulastream.alerts.service import AlertRun, evaluate_and_deliver
from nebulastream.alerts.store import AlertLake, AlertStore
from nebulastream.lake.storage import LakeStorage
from nebulastream.query.base import QueryEngine
from nebulastream.query.service import parse_source
from nebulastream.query.sql import BEST, Sources
from nebulastream.settings import Settings
from nebulastream.timeutil import utcnow

if TYPE_CHECKING:  # a webhook client is built only when one is configured
    import httpx

log = logging.getLogger(__name__)

RULES_NAME = "alerts.yml"


def rules_location(settings: Settings) -> tuple[str, bool]:
    """(where the rules are, whether the user named it): a path or an s3:// URI."""
    if settings.alerts_file:
        return settings.alerts_file, True
    if settings.lake_uri.startswith("s3://"):
        return f"{settings.lake_uri.rstrip('/')}/{RULES_NAME}", False
    return str(Path(settings.lake_uri).expanduser().resolve().parent / RULES_NAME), False


def read_rules(settings: Settings, s3_client: Any | None = None) -> list[Rule]:
    """The configured rules; none when the default file is absent. Raises RulesError."""
    location, named = rules_location(settings)
    text = _read(location, s3_client, named)
    if text is None:
        if named:
            raise RulesError(
                f"{location}: no such rules file; fix NEBULA_ALERTS_FILE or create the file "
                "(docs/alerts.md)."
            )
        return []
    return list(
        parse_rules(
            text,
            source=location,
            coins=settings.coins,
            channels=configured_channels(settings),
        ).rules
    )


def _read(location: str, s3_client: Any | None, named: bool) -> str | None:
    if location.startswith("s3://"):
        bucket, _, key = location[len("s3://") :].partition("/")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        try:
            body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3_client.exceptions.NoSuchKey:
            return None
        except Exception as error:  # botocore: access denied, network
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code in ("AccessDenied", "403") and not named:
                # A missing key is a 403 without bucket-wide s3:ListBucket: no rules file.
                return None
            raise RulesError(f"{location}: could not read the rules file ({error})") from error
        return body.decode("utf-8", errors="replace")
    path = Path(location).expanduser()
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise RulesError(f"{location}: could not read the rules file ({error})") from error


def configured_channels(settings: Settings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.alert_webhook_url:
        channels.append("webhook")
    if settings.alert_topic_arn:
        channels.append("sns")
    channels.append("console")
    return channels


def webhook_secret(settings: Settings) -> Callable[[], str | None]:
    """The signing secret: the setting, or the SSM SecureString it names (cached 5 minutes)."""
    if settings.alert_webhook_secret is not None:
        secret = settings.alert_webhook_secret.get_secret_value()
        return lambda: secret
    name = settings.alert_webhook_secret_parameter
    if not name:
        return lambda: None

    def from_ssm() -> str | None:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(name, decrypt=True, max_age=300)
        return str(value) if value else None

    return from_ssm


def make_senders(
    settings: Settings,
    *,
    emit: Callable[[str], None],
    http_client: httpx.Client | None = None,
    sns_client: Any | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Sender]:
    senders: dict[str, Sender] = {"console": ConsoleChannel(emit)}
    if settings.alert_webhook_url:
        import httpx

        client = http_client or httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False)
        extra: dict[str, Any] = {"sleep": sleep} if sleep else {}
        senders["webhook"] = WebhookChannel(
            client, settings.alert_webhook_url, webhook_secret(settings), **extra
        )
    if settings.alert_topic_arn:
        if sns_client is None:
            import boto3

            sns_client = boto3.client("sns")
        senders["sns"] = SnsChannel(sns_client, settings.alert_topic_arn)
    return senders


def make_alert_engine(settings: Settings) -> QueryEngine:
    """A query engine that sees a batch the moment it is stored: no reused answers."""
    if settings.engine == "athena":
        from nebulastream.query.athena import AthenaEngine

        return AthenaEngine.connect(settings, reuse_results=False)
    from nebulastream.query.duckdb import DuckDBEngine

    return DuckDBEngine(settings.lake_uri, recheck_seconds=0.0, reuse_results=False)


def query_reader(
    engine: QueryEngine, raw_lookback_days: int, sources: Sources = BEST
) -> Callable[[Sequence[Rule], datetime], Mapping[str, Reading | None]]:
    return lambda rules, now: readings.read(engine, rules, now, raw_lookback_days, sources)


@dataclass
class Alerts:
    """Everything one edge needs to evaluate alerts; built once, used after every fetch."""

    settings: Settings
    lake: LakeStorage
    senders: dict[str, Sender]
    s3_client: Any | None = None
    engine: QueryEngine | None = None

    @property
    def store(self) -> AlertStore:
        return AlertStore(cast(AlertLake, self.lake))

    def rules(self) -> list[Rule]:
        return read_rules(self.settings, self.s3_client)

    def reader(self) -> Callable[[Sequence[Rule], datetime], Mapping[str, Reading | None]]:
        if self.engine is None:
            self.engine = make_alert_engine(self.settings)
        settings = self.settings
        best = parse_source(None, settings.ranked_sources)
        return query_reader(self.engine, settings.raw_lookback_days, best)

    def after_fetch(self, *, now: datetime, owner: str) -> AlertRun | None:
        """Evaluate and deliver; never raises (a fetch must not fail because of an alert).

        Reads the rules file at each call, so an edited file applies from the next fetch.
        """
        try:
            rules = self.rules()
            if not rules and not self.store.load()[0].pending:
                return None
            return evaluate_and_deliver(
                rules, self.store, self.reader(), self.senders, now=now, owner=owner
            )
        except Exception as error:  # the fetch is stored; alerts try again at the next one
            log.error("alert evaluation failed: %s: %s", type(error).__name__, error)
            return None

    def close(self) -> None:
        """Release the query engine, if one was built."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    @contextmanager
    def evaluated_after(self, *, owner: str) -> Iterator[None]:
        """Evaluate once the block (a fetch) is done, whether it stored a batch or failed:
        a source that keeps failing is what `stale` rules are for."""
        try:
            yield
        finally:
            run = self.after_fetch(now=utcnow(), owner=owner)
            if run is not None and (run.fired or run.delivered or run.failed):
                log.info("alerts evaluated: %s", run.summary())
