"""The per-process symbol machinery (blob store + resolver with its caches), shared by the API and the worker.

One instance per application so that an upload handled by the API can drop exactly the cache entries the digest
worker in the same process would otherwise keep using, and so parsed source maps are built once per process. The
composition root (`faultline.runtime.Runtime.symbols`) builds it and hands the same instance to both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from faultline.config import Settings
from faultline.symbols.resolver import SymbolSetResolver
from faultline.symbols.storage import BlobStorage, storage_from_settings

log = logging.getLogger(__name__)
_QUEUES = "faultline.symbols.after_transaction"


@dataclass
class SymbolsRuntime:
    settings: Settings
    storage: BlobStorage
    resolver: SymbolSetResolver

    def after_commit(self, session: Session, action: Callable[[], Any]) -> None:
        """Run `action()` once the session's transaction has committed (blob deletes, cache invalidation)."""
        self._queues(session)[0].append(action)

    def after_rollback(self, session: Session, action: Callable[[], Any]) -> None:
        """Run `action()` if the transaction rolls back instead (e.g. remove a blob nothing will point to)."""
        self._queues(session)[1].append(action)

    @staticmethod
    def _queues(session: Session) -> tuple[list[Callable[[], Any]], list[Callable[[], Any]]]:
        queues = session.info.get(_QUEUES)
        if queues is None:
            queues = ([], [])
            session.info[_QUEUES] = queues
            on_commit, on_rollback = queues

            def run(chosen: list[Callable[[], Any]]) -> None:
                actions = list(chosen)
                on_commit.clear()
                on_rollback.clear()
                for action in actions:
                    try:
                        action()
                    except Exception:
                        log.exception("post-transaction symbol action failed")

            event.listen(session, "after_commit", lambda _s: run(on_commit))
            event.listen(session, "after_rollback", lambda _s: run(on_rollback))
        return queues


def build_runtime(settings: Settings, storage: BlobStorage | None = None) -> SymbolsRuntime:
    storage = storage or storage_from_settings(settings)
    return SymbolsRuntime(settings=settings, storage=storage, resolver=SymbolSetResolver(settings, storage))


def runtime_for(state: Any) -> SymbolsRuntime:
    """The runtime of the application whose `app.state` this is (the one its composition root built)."""
    return state.runtime.symbols
