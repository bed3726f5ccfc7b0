"""RFC 8599 push notifications on the proxy side.

- `pushinject.push.service`: what the proxy asks a push service for (`PushRequest`), what comes
  back (`PushResult`) and the `PushService` interface a real or simulated service implements.
- `pushinject.push.bucket`: the SIP Request Push Bucket with its Bucket Timer (RFC 8599 §5.2,
  §5.6.2) and the contact matching rule of §5.3.

Both are sans-I/O: time is the `now` argument, nothing here sends anything.
"""

from __future__ import annotations

from pushinject.push.bucket import Bucket, BucketEntry, BucketOutcome, pn_params, pn_match
from pushinject.push.service import PushRequest, PushResult, PushService

__all__ = [
    "Bucket",
    "BucketEntry",
    "BucketOutcome",
    "PushRequest",
    "PushResult",
    "PushService",
    "pn_match",
    "pn_params",
]
