"""Storage backends for the lake, chosen by NEBULA_LAKE_URI: a folder or s3://bucket[/prefix]."""

from __future__ import annotations

import builtins
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover
else:
    S3Client = Any


class LakeError(RuntimeError):
    """The lake could not be read or written; the message says which key and why."""


class LakeStorage(Protocol):
    """What the pipeline needs of a bucket: whole-object put/get, existence and listing."""

    uri: str

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalLake:
    """A folder with the bucket's key layout. Writes are atomic: temp file, fsync, rename."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)
        self._root = str(self.root)
        self._inside = f"{self._root}{os.sep}"

    def path(self, key: str) -> Path:
        return Path(self._fspath(key))

    def _fspath(self, key: str) -> str:
        # normpath, not resolve(): resolve() stats every path component, which made reading
        # 105k raw batches 10x slower; a key still cannot climb out of the folder with '..'.
        target = os.path.normpath(f"{self._root}{os.sep}{key}")
        if not target.startswith(self._inside):
            raise LakeError(f"key {key!r} escapes the lake folder {self.root}")
        return target

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._put(key, data)
        except OSError as error:
            raise LakeError(
                f"could not write {key!r} under {self.root}: {error.strerror or error}; "
                "check that NEBULA_LAKE_URI is a writable folder with free space."
            ) from error

    def _put(self, key: str, data: bytes) -> None:
        self._place(key, data, os.replace)

    def _place(self, key: str, data: bytes, place: Callable[[str, Path], None]) -> None:
        """Write `data` to a complete, fsynced temp file beside the key, then `place` it
        (os.replace: atomic overwrite; os.link: atomic create, failing if the key exists).
        The temp file never outlives the call."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            place(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        # os.read of the fstat size: half the cost of Path.read_bytes, which matters when
        # curation reads a year of 5-minute batches (105k small files).
        try:
            fd = os.open(self._fspath(key), os.O_RDONLY)
        except FileNotFoundError:
            raise LakeError(f"no object {key!r} in {self.root}") from None
        try:
            return os.read(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        folder = base if prefix.endswith("/") or base.is_dir() else base.parent
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object and its version (a SHA-256 of the content), or None when absent."""
        try:
            data = self.get(key)
        except LakeError:
            return None
        return data, _digest(data)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Create `key` only if nothing is there (a hard link of a complete temp file, which
        fails atomically when the name exists); False when it already existed."""
        try:
            self._place(key, data, os.link)
        except FileExistsError:
            return False
        except OSError as error:
            raise LakeError(f"could not create {key!r} under {self.root}: {error}") from error
        return True

    def put_if_match(self, key: str, data: bytes, content_type: str, version: str) -> bool:
        """Replace `key` only if it still holds the content of `version`; False otherwise.

        The compare and the rename run under an exclusive lock on a hidden file beside the key,
        so two local processes cannot both replace the same version.
        """
        import fcntl

        target = self.path(key)
        lock = target.parent / f".{target.name}.lock"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(lock, "a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                current = self.get_versioned(key)
                if current is None or current[1] != version:
                    return False
                self._put(key, data)
        except OSError as error:
            raise LakeError(f"could not replace {key!r} under {self.root}: {error}") from error
        return True

    def sweep_temp_files(self, prefix: str) -> builtins.list[str]:
        """Remove the temp files a killed writer left under `prefix` (`.name.*.tmp`, as _put
        makes them); returns their keys. Only safe while no one else writes there."""
        base = self.root / prefix
        if not base.is_dir():
            return []
        removed = []
        for path in sorted(base.rglob(".*.tmp")):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path.relative_to(self.root).as_posix())
        return removed

    def versions(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, version) of each object under a folder prefix, sorted; version = size-mtime."""
        if not prefix.endswith("/"):
            raise LakeError(f"versions() lists folders: {prefix!r} must end with '/'")
        found: list[tuple[str, str]] = []
        stack = [prefix]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(self.root / folder))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(f"{folder}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found.append((folder + entry.name, f"{stat.st_size}-{stat.st_mtime_ns}"))
        yield from sorted(found)


class S3Lake:
    """An S3 bucket (optionally under a prefix). The client is built at the edge and passed in.

    Every botocore error (a ClientError from S3, or a BotoCoreError: no credentials, no
    network) leaves as a one-line LakeError naming the key and the permission to check.
    """

    def __init__(
        self, bucket: str, prefix: str, client: S3Client, kms_key_id: str | None = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.kms_key_id = kms_key_id
        self.uri = f"s3://{bucket}/{self.prefix}"

    @contextmanager
    def _errors(self, doing: str, check: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as error:
            reason = " ".join(str(error).split())  # botocore's text, on one line
            raise LakeError(
                f"could not {doing} in {self.uri}: {reason}; check NEBULA_LAKE_URI and {check}."
            ) from error

    def put(self, key: str, data: bytes, content_type: str) -> None:
        extra: dict[str, str] = {}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        # S3 PUT is atomic per object: readers see the old or the new batch, never half.
        with self._errors(
            f"write {key!r}",
            "the credentials' s3:PutObject on that prefix and kms:GenerateDataKey on the key",
        ):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentType=content_type,
                **extra,
            )

    def get(self, key: str) -> bytes:
        with self._errors(f"read {key!r}", "the credentials' s3:GetObject and kms:Decrypt"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except self.client.exceptions.NoSuchKey:
                raise LakeError(f"no object {key!r} in {self.uri}") from None
            body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._errors(f"look for {key!r}", "the credentials' s3:GetObject (HEAD)"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def _listing(self, prefix: str) -> Iterator[dict[str, Any]]:
        with self._errors(f"list {prefix!r}", "the credentials' s3:ListBucket on that prefix"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                yield from page.get("Contents", [])

    def list(self, prefix: str) -> Iterator[str]:
        for item in self._listing(prefix):
            yield item["Key"][len(self.prefix) :]

    def delete(self, key: str) -> None:
        with self._errors(f"delete {key!r}", "the credentials' s3:DeleteObject on that prefix"):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def _put_conditionally(
        self, key: str, data: bytes, content_type: str, **condition: str
    ) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, str] = {}
        if self.kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentType=content_type,
                **condition,
                **extra,
            )
        except ClientError as error:
            # 412: the condition failed; 409: a concurrent conditional write won the race;
            # 404: an If-Match on an object deleted since it was read.
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
                "412",
                "409",
                "NoSuchKey",
                "404",
            ):
                return False
            raise LakeError(f"could not write {key!r} to {self.uri}: {error}") from error
        except BotoCoreError as error:
            raise LakeError(f"could not write {key!r} to {self.uri}: {error}") from error
        return True

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Create `key` only if no object has it (If-None-Match: *); False if one does."""
        return self._put_conditionally(key, data, content_type, IfNoneMatch="*")

    def put_if_match(self, key: str, data: bytes, content_type: str, etag: str) -> bool:
        """Replace `key` only if it is still the version `etag` (If-Match); False if not."""
        return self._put_conditionally(key, data, content_type, IfMatch=f'"{etag}"')

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object and its ETag, or None when there is none.

        S3 answers 403, not 404, for a missing key to a caller without s3:ListBucket on the
        whole bucket; that reads as absent too: the conditional write that follows decides
        (it fails if the object exists, and raises if writing is denied).
        """
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.NoSuchKey:
            return None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("AccessDenied", "403"):
                return None
            raise LakeError(f"could not read {key!r} from {self.uri}: {error}") from error
        body: bytes = response["Body"].read()
        return body, str(response["ETag"]).strip('"')

    def versions(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, ETag) of each object under a prefix, in key order (as S3 lists them)."""
        for item in self._listing(prefix):
            yield item["Key"][len(self.prefix) :], item["ETag"].strip('"')


def open_lake(
    uri: str, s3_client: S3Client | None = None, kms_key_id: str | None = None
) -> LakeStorage:
    """The storage for a lake URI; an s3:// URI needs the boto3 client its edge built."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise LakeError(f"{uri!r} names no bucket: use s3://bucket[/prefix].")
        if s3_client is None:
            raise LakeError(f"{uri!r} is an S3 lake: pass the S3 client built at the edge.")
        return S3Lake(bucket, prefix, s3_client, kms_key_id)
    if "://" in uri:
        raise LakeError(f"{uri!r}: NEBULA_LAKE_URI must be a local folder or s3://bucket[/prefix].")
    return LocalLake(uri)
