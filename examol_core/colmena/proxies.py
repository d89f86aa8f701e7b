"""ProxyStore in one place: share a large object once, resolve it where it is used, evict it after.

Colmena already proxies large task arguments and results one by one; an object sent with
*many* tasks (a model message with every chunk, a training set with every ensemble member) is
better stored once by the steering side (:func:`share`) and evicted when the job that shared it
ends (:func:`evict`). Workers and the steering side call :func:`resolve` on whatever they receive.
"""
from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ['ProxyKey', 'resolve', 'share', 'evict']

ProxyKey = tuple[str, Any]
"""``(store name, key)`` of an object put in a store by :func:`share`."""


def resolve(obj: Any) -> Any:
    """The object behind a ProxyStore proxy (fetching it now), or ``obj`` itself."""
    from proxystore.proxy import Proxy, extract

    return extract(obj) if isinstance(obj, Proxy) else obj


def share(queues: Any, topic: str, obj: Any) -> tuple[Any, ProxyKey | None]:
    """Put ``obj`` in the ProxyStore store of ``topic``'s queue if it exceeds the queue's threshold.

    Returns:
        ``(proxy, key)``, or ``(obj, None)`` when the object is small or the queue has no store.
    """
    from proxystore.store import get_store
    from proxystore.store.utils import get_key

    name = queues.proxystore_name.get(topic)
    threshold = queues.proxystore_threshold.get(topic)
    if obj is None or name is None or threshold is None:
        return obj, None
    if len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) < threshold:
        return obj, None
    proxy = get_store(name).proxy(obj, evict=False, populate_target=False)
    return proxy, (name, get_key(proxy))


def evict(keys: Iterable[ProxyKey]) -> None:
    """Remove shared objects from their stores (a store already closed at shutdown is skipped)."""
    from proxystore.store import get_store

    for name, key in keys:
        store = get_store(name)
        if store is not None:
            try:
                store.evict(key)
            except Exception:  # the store may already be closed at shutdown
                logger.debug('Could not evict %s from %s', key, name)
