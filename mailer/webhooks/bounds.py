"""The bounds of webhook delivery: how much one round and one run may take, and the Redis keys' lives.

They are what keeps a dispatcher from holding a worker for long (see dispatcher), and what a killed
one leaves behind: leases and keys that run out within seconds of the run that held them.
"""

from __future__ import annotations

from mailer.config import Config

ROUND_SIZE = 500  # deliveries claimed at once
ROUND_SECONDS = 5.0  # no POST of a lane starts later than this after the lane started
RUN_SECONDS = 30.0  # no claim is made later than this in a run
THREADS = 16  # POSTs in flight in all
CONNECTIONS_PER_ENDPOINT = 4  # POSTs in flight (and pooled connections) per endpoint
# POSTs in flight per tenant (two endpoints' worth): one tenant's hanging endpoints leave half the lanes free.
TENANT_LANES = 8


def lease_seconds(config: Config) -> float:
    """Longer than one lane can hold a delivery (its time, one POST, the bookkeeping)."""
    return ROUND_SECONDS + 2 * config.WEBHOOK_TIMEOUT_SECONDS + 5


def key_ttl(config: Config) -> int:
    """How long the lock and the queued marker outlive a dispatcher killed mid-run (a run refreshes them)."""
    return int(lease_seconds(config) + 5)


def job_timeout(config: Config) -> int:
    """Longer than a whole run: RUN_SECONDS, then one round and its POSTs."""
    return int(RUN_SECONDS + lease_seconds(config) + 30)
