"""The landing zone: every payload fetched, stored as received, before anything parses it.

Layout, under `Settings.landing_dir`:

    <source_name>/<partition>/<fetched_at:%Y%m%dT%H%M%S%fZ>-<key slug>-<sha256[:12]>.<ext>[.gz]
    ... the same name + ".meta.json"   (url, status, ETag, Last-Modified, fetch time, hash)

`partition` is the day the payload belongs to (YYYY-MM-DD) for dated sources, else the day it
was fetched. Payloads are gzip-compressed unless they arrive compressed (a GKG `.zip`). Readers
list a source's payloads with `landed_payloads` and read them with `LandedPayload.open()`; a
payload's `sha256` (of the bytes as received) is its change key, so a replay from landing reads
exactly what a live night read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

META_SUFFIX = ".meta.json"
ALREADY_COMPRESSED = (".zip", ".gz")
_SLUG = re.compile(r"[^A-Za-z0-9.^=-]+")


@dataclass(frozen=True)
class LandedPayload:
    """One stored payload and what was known when it was fetched."""

    path: Path  # the payload file as stored (compressed)
    rel_path: str  # relative to the source's landing folder, '/'-separated
    source_name: str
    partition: str
    key: str  # what was asked for: a feed URL, a ticker, a GKG time slot
    url: str
    status: int
    etag: str | None
    last_modified: str | None
    content_type: str | None
    fetched_at: datetime
    sha256: str  # of the bytes as received
    size: int  # bytes as received
    stored_gzip: bool  # compressed by `land` (False: stored as received, e.g. a .zip)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The bytes as received, streamed (never the whole payload in memory)."""
        if self.stored_gzip:
            stream: IO[bytes] = gzip.open(self.path, "rb")
        else:
            stream = self.path.open("rb")
        with stream:
            yield stream

    def read_bytes(self) -> bytes:
        with self.open() as stream:
            return stream.read()


def slug(key: str, limit: int = 60) -> str:
    return _SLUG.sub("_", key).strip("_")[:limit] or "payload"


def land(
    root: Path,
    *,
    source_name: str,
    partition: str,
    key: str,
    url: str,
    status: int,
    body: bytes,
    etag: str | None,
    last_modified: str | None,
    content_type: str | None,
    fetched_at: datetime,
    extension: str,
) -> LandedPayload:
    """Store `body` (as received) and its sidecar atomically; returns what a reader will see.

    `extension` is the payload's own (".xml", ".json", ".csv", ".zip"); it is gzip-compressed
    unless it already is compressed."""
    digest = hashlib.sha256(body).hexdigest()
    folder = root / source_name / partition
    folder.mkdir(parents=True, exist_ok=True)
    stamp = fetched_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    compressed = extension.endswith(ALREADY_COMPRESSED)
    name = f"{stamp}-{slug(key)}-{digest[:12]}{extension}{'' if compressed else '.gz'}"
    stored = body if compressed else gzip.compress(body, mtime=0)
    _write_atomically(folder / name, stored)
    meta = {
        "source_name": source_name,
        "partition": partition,
        "key": key,
        "url": url,
        "status": status,
        "etag": etag,
        "last_modified": last_modified,
        "content_type": content_type,
        "fetched_at": fetched_at.astimezone(UTC).isoformat(),
        "sha256": digest,
        "size": len(body),
        "stored_gzip": not compressed,
    }
    # the sidecar last: a payload without one is an interrupted write, never listed
    _write_atomically(folder / (name + META_SUFFIX), json.dumps(meta, indent=1).encode())
    return _payload(root / source_name, folder / name, meta)


def landed_payloads(source_root: Path) -> list[LandedPayload]:
    """Every complete payload of one source (`<landing>/<source_name>`), oldest fetch first."""
    if not source_root.is_dir():
        return []
    payloads = []
    for meta_path in source_root.rglob("*" + META_SUFFIX):
        payload_path = meta_path.with_name(meta_path.name[: -len(META_SUFFIX)])
        if payload_path.is_file():
            payloads.append(_payload(source_root, payload_path, json.loads(meta_path.read_text())))
    return sorted(payloads, key=lambda p: (p.fetched_at, p.rel_path))


def _payload(source_root: Path, path: Path, meta: dict) -> LandedPayload:
    fields = {name: meta.get(name) for name in LandedPayload.__dataclass_fields__}
    fields.update(
        path=path,
        rel_path=path.relative_to(source_root).as_posix(),
        fetched_at=datetime.fromisoformat(meta["fetched_at"]),
    )
    return LandedPayload(**fields)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".landing-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

