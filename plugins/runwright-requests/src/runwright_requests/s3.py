"""S3 access for the landing and s3-* tasks: paths, clients, streamed uploads, clean-up.

`S3ObjectWriter` streams bytes into one object while holding at most one part in memory:
bodies up to 1 MiB go up as one PUT, larger ones as a multipart upload of 8 MiB parts. If
anything fails, `abort()` cancels the multipart upload so no partial object is left.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .errors import ArgumentError, S3Error

if TYPE_CHECKING:
    import botocore.session

# botocore is imported by the functions that talk to S3, not by this module: listing the
# plugin's calls (``runwright plugins``, the checker) must not pay ~60 ms for it.
from .redaction import Redactor, Tracer, reveal

MIB = 1024 * 1024
PART_BYTES = 8 * MIB  # S3 needs >= 5 MiB for every part but the last
MULTIPART_THRESHOLD_BYTES = 1 * MIB

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")

# One botocore session for the process: it caches the parsed S3 service model (about 10 MB
# and a tenth of a second to load), which a new session per call would parse again. Creating
# clients from a shared session is not thread-safe, hence the lock; the clients are.
_SESSION_LOCK = threading.Lock()
_SESSION: botocore.session.Session | None = None


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key (or key prefix)."""

    bucket: str
    key: str

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        argument: str = "aws_s3_path",
        what: str = "prefix",
        keep_slash: bool = False,
    ) -> S3Location:
        """Parse `bucket/key` (an `s3://` scheme is accepted); `what` names the key part.

        A trailing slash is dropped unless `keep_slash` (a sensor's prefix `dir/` must not
        also match `dir2/`).
        """
        raw = (text or "").strip()
        body = raw[5:] if raw.lower().startswith("s3://") else raw
        bucket, _, key = body.partition("/")
        key = key.lstrip("/") if keep_slash else key.strip("/")
        if not _BUCKET.match(bucket) or not key:
            raise ArgumentError(
                f"{argument} must look like bucket/{what} (got {raw!r}): the bucket is 3-63 "
                "lowercase letters, digits, dots or hyphens, and the "
                f"{what} must not be empty"
            )
        return cls(bucket=bucket, key=key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, name: str) -> S3Location:
        return S3Location(self.bucket, f"{self.key}/{name}")


def make_client(
    *,
    access_key_id: str | None,
    secret_access_key: str | SecretStr | None,
    endpoint_url: str | None,
    region: str | None,
    redactor: Redactor,
) -> Any:
    """A boto3 S3 client; without explicit keys, boto3's usual credential chain applies."""
    if bool(access_key_id) != bool(reveal(secret_access_key)):
        raise ArgumentError("aws_access_client_id and aws_access_client_secret must be given together")
    redactor.add(secret_access_key)
    import botocore.session
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # Checksums only where S3 requires them: S3-compatible stores (MinIO, moto, Ceph)
        # differ in which of the newer checksum headers they accept.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = botocore.session.get_session()
        return _SESSION.create_client(
            "s3",
            region_name=region or None,
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=reveal(secret_access_key) or None,
            config=config,
        )


@contextmanager
def s3_errors(action: str, location: S3Location, redactor: Redactor) -> Iterator[None]:
    """Turn botocore's errors into S3Error naming the action and the object."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message") or str(exc)
        raise S3Error(redactor.text(f"S3 {action} on {location.uri} failed: {code}: {message}")) from None
    except BotoCoreError as exc:
        raise S3Error(redactor.text(f"S3 {action} on {location.uri} failed: {exc}")) from None


class S3ObjectWriter:
    """Stream bytes into one S3 object, buffering at most one part."""

    def __init__(
        self,
        client: Any,
        location: S3Location,
        *,
        content_type: str,
        redactor: Redactor,
        trace: Tracer,
        part_bytes: int = PART_BYTES,
        multipart_threshold: int = MULTIPART_THRESHOLD_BYTES,
    ) -> None:
        self._client = client
        self.location = location
        self._content_type = content_type
        self._redactor = redactor
        self._trace = trace
        self._part_bytes = part_bytes
        self._threshold = multipart_threshold
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0
        self.etag: str | None = None

    def write(self, data: bytes) -> None:
        """Append `data`; uploads a part whenever a full one is buffered."""
        if not data:
            return
        self._buffer += data
        self.size += len(data)
        if self._upload_id is None and len(self._buffer) > self._threshold:
            self._start_multipart()
        if self._upload_id is not None and len(self._buffer) >= self._part_bytes:
            self._upload_part()

    def close(self) -> None:
        """Finish the object: a single PUT for small bodies, else complete the upload."""
        with s3_errors("upload", self.location, self._redactor):
            if self._upload_id is None:
                response = self._client.put_object(
                    Bucket=self.location.bucket,
                    Key=self.location.key,
                    Body=self._buffer,
                    ContentType=self._content_type,
                )
                self._buffer = bytearray()
            else:
                if self._buffer or not self._parts:
                    self._upload_part()
                response = self._client.complete_multipart_upload(
                    Bucket=self.location.bucket,
                    Key=self.location.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
        self.etag = str(response.get("ETag", "")).strip('"') or None

    def abort(self) -> None:
        """Drop everything: cancel the multipart upload so no part lingers in the bucket."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._buffer = bytearray()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=self.location.key, UploadId=upload_id
            )
            self._trace(f"s3: aborted the multipart upload of {self.location.uri}")
        except (ClientError, BotoCoreError) as exc:
            self._trace(f"s3: could not abort the multipart upload of {self.location.uri}: {exc}")

    def _start_multipart(self) -> None:
        with s3_errors("CreateMultipartUpload", self.location, self._redactor):
            response = self._client.create_multipart_upload(
                Bucket=self.location.bucket,
                Key=self.location.key,
                ContentType=self._content_type,
            )
        self._upload_id = response["UploadId"]

    def _upload_part(self) -> None:
        # The bytearray goes to botocore as is (no copy); a fresh one takes the next part.
        body, self._buffer = self._buffer, bytearray()
        number = len(self._parts) + 1
        with s3_errors(f"UploadPart {number}", self.location, self._redactor):
            response = self._client.upload_part(
                Bucket=self.location.bucket,
                Key=self.location.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})


def delete_keys(client: Any, bucket: str, keys: list[str], *, redactor: Redactor, trace: Tracer) -> None:
    """Delete objects this call wrote (best effort: a failure is traced, not raised)."""
    from botocore.exceptions import BotoCoreError, ClientError

    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        try:
            client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        except (ClientError, BotoCoreError) as exc:
            trace(redactor.text(f"s3: could not delete {len(batch)} partial object(s): {exc}"))


def list_keys(client: Any, location: S3Location, *, limit: int, redactor: Redactor) -> list[str]:
    """Up to `limit` keys under `location.key` (a prefix), in S3's order."""
    keys: list[str] = []
    token: str | None = None
    with s3_errors("ListObjectsV2", location, redactor):
        while len(keys) < limit:
            kwargs: dict[str, Any] = {
                "Bucket": location.bucket,
                "Prefix": location.key,
                "MaxKeys": min(1000, limit - len(keys)),
            }
            if token:
                kwargs["ContinuationToken"] = token
            response = client.list_objects_v2(**kwargs)
            keys.extend(item["Key"] for item in response.get("Contents", []))
            if not response.get("IsTruncated"):
                break
            token = response.get("NextContinuationToken")
            if not token:
                break
    return keys[:limit]


def check_bucket(client: Any, location: S3Location, *, redactor: Redactor) -> None:
    """Fail fast on a bucket that does not exist (a key check alone would only see 404s).

    A 403 (no s3:ListBucket permission) is not an answer either way, so it is let through.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=location.bucket)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            raise S3Error(
                f"S3 bucket {location.bucket!r} does not exist (waiting for {location.uri})"
            ) from None
    except BotoCoreError as exc:
        raise S3Error(redactor.text(f"S3 HeadBucket on {location.uri} failed: {exc}")) from None


def key_exists(client: Any, location: S3Location, *, redactor: Redactor) -> bool:
    """True when exactly this key exists (404 is a plain 'no')."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=location.bucket, Key=location.key)
        return True
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return False
        with s3_errors("HeadObject", location, redactor):
            raise
