"""What a tenant's sending domains say, kept per process while the tenant's domains_version stays the same.

Every change to a tenant's domains or keys raises domains_version in the change's own transaction
(domains/service._changed), so a caller that read the version in its transaction and finds it unchanged
may use what was read at that version: a domain un-verified or deleted is seen by the next reader at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AsOfVersion(Generic[K, V]):
    """Values by key, each with the version it was read at; emptied when full (a miss is one query)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._kept: dict[K, tuple[Hashable, V]] = {}

    def get(self, key: K, version: Hashable, read: Callable[[], V]) -> V:
        kept = self._kept.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        value = read()
        if len(self._kept) >= self._size:
            self._kept.clear()  # rare: thousands of tenants' domains in one process
        self._kept[key] = (version, value)
        return value
