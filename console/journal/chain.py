"""Canonical JSON and the hash chain that links events (DESIGN §3).

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
