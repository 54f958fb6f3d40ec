"""One curation writer at a time: a lease on the lake, held from before a run's first write.

Without it two runs (the hourly `nebula run` one and a manual `nebula transform`; a scheduled
Glue run and one started by hand) interleave their read-modify-write of curated days and the
manifest, and a batch can be lost for good. Two implementations, chosen by the lake:

- a local lake: an exclusive `flock` on `reports/_state/curation.lock`. The kernel releases it
  when the holding process ends, however it ends, so a killed run never blocks the next;
- an S3 lake: the object `reports/_state/lease.json`, created with a conditional write
  (`If-None-Match: *`) and carrying its holder and expiry. It is deleted at the end; a lease
  past its expiry, or held by a process of this host that is gone, is taken over with
  `If-Match` on the ETag read, so of two runs taking over the same stale lease one wins.

A run that finds the lease held polls until `wait_seconds` have passed, then raises
LeaseHeldError naming the holder and since when.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

from nebulastream.lake.layout import LEASE, LOCK_FILE
from nebulastream.lake.storage import LakeError, LakeStorage, LocalLake, S3Lake
from nebulastream.timeutil import iso_z

# Longer than any run may last (the Glue job's timeout is 30 minutes), so only a dead run's
# lease ever expires.
DEFAULT_TTL_SECONDS = 3600
POLL_SECONDS = 0.5


class LeaseHeldError(LakeError):
    """Another curation run holds the lake; the message names it."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lease: written into the lock so a waiting run can say who it waits for."""

    owner: str  # what is running, e.g. "nebula transform" or "glue job run jr_..."
    host: str
    pid: int
    since: str  # RFC 3339
    expires: str  # RFC 3339
    token: str  # unique per acquisition: a release deletes only its own lease

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Holder | None:
        try:
            return cls(**json.loads(data))
        except (ValueError, TypeError):
            return None

    def describe(self) -> str:
        return f"{self.owner} (pid {self.pid} on {self.host}) since {self.since}"

    def expired(self, now: datetime) -> bool:
        try:
            return datetime.fromisoformat(self.expires.replace("Z", "+00:00")) <= now
        except ValueError:
            return True

    def process_gone(self) -> bool:
        """True when the holder ran on this host and its process no longer exists."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, run by someone else
            return False
        return False


def _holder(owner: str, now: datetime, ttl_seconds: int) -> Holder:
    return Holder(
        owner=owner,
        host=socket.gethostname(),
        pid=os.getpid(),
        since=iso_z(now),
        expires=iso_z(now + timedelta(seconds=ttl_seconds)),
        token=uuid.uuid4().hex,
    )


def _held_error(holder: Holder | None, waited: float) -> LeaseHeldError:
    who = holder.describe() if holder else "another curation run"
    return LeaseHeldError(
        f"the lake is being curated by {who}; waited {waited:.0f} s. "
        "Run again when it has finished (a killed run's lease is released automatically)."
    )


@contextlib.contextmanager
def hold_lease(
    lake: LakeStorage,
    *,
    owner: str,
    wait_seconds: float = 60.0,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Holder]:
    """Hold the lake's curation lease for the `with` block; raise LeaseHeldError after
    waiting `wait_seconds` for another holder."""
    if isinstance(lake, LocalLake):
        with _flock(lake, owner, wait_seconds, ttl_seconds, clock) as holder:
            yield holder
    elif isinstance(lake, S3Lake):
        with _s3_lease(lake, owner, wait_seconds, ttl_seconds, clock) as holder:
            yield holder
    else:
        raise LakeError(f"{lake.uri}: this lake offers no way to hold a curation lease.")


@contextlib.contextmanager
def _flock(
    lake: LocalLake,
    owner: str,
    wait_seconds: float,
    ttl_seconds: int,
    clock: Callable[[], datetime],
) -> Iterator[Holder]:
    path = lake.path(LOCK_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[bytes] = open(path, "a+b")  # noqa: SIM115 - held open for the lock's life
    except OSError as error:
        raise LakeError(
            f"could not open the curation lock {path}: {error.strerror or error}; check that "
            "NEBULA_LAKE_URI is a writable folder."
        ) from error
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_seconds:
                    handle.seek(0)
                    raise _held_error(Holder.from_json(handle.read()), waited) from None
                time.sleep(min(POLL_SECONDS, max(0.0, wait_seconds - waited)))
        holder = _holder(owner, clock(), ttl_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(holder.to_json())
        handle.flush()
        try:
            yield holder
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


@contextlib.contextmanager
def _s3_lease(
    lake: S3Lake,
    owner: str,
    wait_seconds: float,
    ttl_seconds: int,
    clock: Callable[[], datetime],
) -> Iterator[Holder]:
    started = time.monotonic()
    while True:
        holder = _holder(owner, clock(), ttl_seconds)
        if lake.put_if_absent(LEASE, holder.to_json(), "application/json"):
            break
        current = lake.get_versioned(LEASE)
        if current is None:  # released between our write and our read: try again at once
            continue
        data, etag = current
        held = Holder.from_json(data)
        # An unreadable lease is treated as stale: it can only be a broken write.
        if (held is None or held.expired(clock()) or held.process_gone()) and lake.put_if_match(
            LEASE, holder.to_json(), "application/json", etag
        ):
            break
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise _held_error(held, waited)
        time.sleep(min(POLL_SECONDS, max(0.0, wait_seconds - waited)))
    try:
        yield holder
    finally:
        current = lake.get_versioned(LEASE)
        if current is not None:
            held = Holder.from_json(current[0])
            if held is not None and held.token == holder.token:
                lake.delete(LEASE)
