"""Canonical JSON and the hash chain that links events.

``hash`` is SHA-256 (or HMAC-SHA256 with a key) over the canonical JSON of the event without
its ``hash`` field: sorted keys, no spaces, UTF-8. The first event's ``prev`` is 64 zeros.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

GENESIS = "0" * 64


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` the one way the chain hashes it."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(record: dict[str, Any], key: bytes | None = None) -> str:
    """The ``hash`` of an event record (every field but ``hash`` itself)."""
    body = canonical_json({k: v for k, v in record.items() if k != "hash"})
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


_HASH_FIELD = b',"hash":"'


def body_hash(body: bytes, key: bytes | None = None) -> str:
    """SHA-256 (or HMAC-SHA256 with ``key``) of already-canonical bytes."""
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """Split one written log line (no newline) into the bytes its hash covers and that hash.

    A canonical line has ``"hash"`` between ``"data"`` and ``"incident"``; the envelope fields
    after it are scalars, so the last ``,"hash":"`` is the envelope's. Removing that field gives
    exactly the canonical JSON the hash was computed over. ``None`` if the line has no such field.
    """
    at = line.rfind(_HASH_FIELD)
    end = at + len(_HASH_FIELD) + 64
    if at < 0 or line[end : end + 1] != b'"':
        return None
    return line[:at] + line[end + 1 :], line[at + len(_HASH_FIELD) : end].decode("ascii", "replace")


_INCIDENT_FIELD = b',"incident":"'


def join_line(body: bytes, digest: str) -> bytes:
    """The written line (no newline) for canonical ``body`` and its hash: the inverse of
    ``split_line``. ``"hash"`` sorts just before ``"incident"``, whose field is the last one
    with that name because only scalars follow it."""
    at = body.rfind(_INCIDENT_FIELD)
    return body[:at] + b',"hash":"' + digest.encode() + b'"' + body[at:]
