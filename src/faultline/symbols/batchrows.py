"""Symbol-set rows as one digest batch sees them: read before the write transaction, written inside it.

The resolver works before the batch's write transaction (see `faultline.protocol.seams.SymbolBatch`), so every row
it would create or update is *planned* here and written by `apply`, first thing inside that transaction:

* a row for a ref that had none (negative: "not uploaded", a failed fetch; positive: a fetched script) gets a
  provisional id. If another process created the ref's row meanwhile, that row wins (insert … do nothing) and the
  provisional id is replaced by the stored one — every "create" here means "create if still missing", so a late
  negative row can never overwrite an upload;
* `last_used` refreshes and failure reasons found while parsing are updates by id;
* the rows the frames were resolved against are read again (FOR KEY SHARE on PostgreSQL, so a delete waits for the
  batch to commit). A deleted row's id is replaced by None; a row whose blob changed — or a ref that was missing
  and now has an upload — makes the batch *stale*, and the pipeline resolves it again instead of storing frames
  resolved against outdated symbols (an upload's repair job may already have scanned past them).

Rows reach the process-wide row cache only after the transaction committed, so a rolled-back batch never leaves a
cached id pointing at a row that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import upsert, utcnow
from faultline.ids import uuid7
from faultline.protocol.seams import AppliedSymbols
from faultline.releases.models import Release
from faultline.symbols.cache import TTLCache
from faultline.symbols.models import SymbolSet

LAST_USED_REFRESH = dt.timedelta(hours=12)
_CHUNK = 500

Key = tuple[int, str]  # (project id, ref)


@dataclass(frozen=True)
class Row:
    id: uuid.UUID
    ref: str
    storage_ptr: str | None
    content_hash: str | None
    failure_reason: str | None
    last_used: dt.datetime | None
    release: dict[str, Any] | None

    @property
    def usable(self) -> bool:
        """Has a confirmed upload (a row from `bulk_start_upload` has a storage pointer but no hash yet)."""
        return self.storage_ptr is not None and self.content_hash is not None


def release_json(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {
        "id": str(release.id),
        "hash_id": release.hash_id,
        "team_id": release.project_id,
        "created_at": release.created_at.isoformat().replace("+00:00", "Z") if release.created_at else None,
        "metadata": release.metadata_,
        "version": release.version,
        "project": release.project_name,
    }


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + _CHUNK] for start in range(0, len(items), _CHUNK)]


class BatchRows:
    """The symbol-set rows one batch read or plans to write. Not thread-safe: one batch, one thread."""

    def __init__(self, session: Session, shared: TTLCache[Row]) -> None:
        self.session = session
        self.shared = shared
        self._memo: dict[Key, Row] = {}
        self._absent: set[Key] = set()
        self._planned: dict[Key, Row] = {}
        self._touched: dict[uuid.UUID, dt.datetime] = {}
        self._failures: dict[uuid.UUID, str] = {}
        self._unshareable: set[Key] = set()  # lost their insert, or changed under us: never promote to the cache

    # Before the write transaction ------------------------------------------------------------------------------

    def get(self, project_id: int, ref: str) -> Row | None:
        key = (project_id, ref)
        row = self._memo.get(key) or self.shared.get(key)
        if row is not None:
            self._memo[key] = row  # remembered so `apply` checks it is still what the frames were resolved with
            return row
        if key in self._absent:
            return None
        found = self.session.execute(
            sa.select(SymbolSet, Release)
            .outerjoin(Release, Release.id == SymbolSet.release_id)
            .where(SymbolSet.project_id == project_id, SymbolSet.ref == ref)
        ).first()
        if found is None:
            self._absent.add(key)
            return None
        symbol_set, release = found
        row = Row(
            id=symbol_set.id,
            ref=symbol_set.ref,
            storage_ptr=symbol_set.storage_ptr,
            content_hash=symbol_set.content_hash,
            failure_reason=symbol_set.failure_reason,
            last_used=symbol_set.last_used,
            release=release_json(release),
        )
        self._memo[key] = row
        return row

    def plan(
        self,
        project_id: int,
        ref: str,
        *,
        storage_ptr: str | None,
        content_hash: str | None,
        failure_reason: str | None,
    ) -> Row:
        """The row for a ref that has none yet; `apply` inserts it unless another process got there first."""
        key = (project_id, ref)
        row = Row(uuid7(), ref, storage_ptr, content_hash, failure_reason, utcnow(), None)
        self._planned[key] = row
        self._memo[key] = row
        self._absent.discard(key)
        return row

    def touch(self, project_id: int, row: Row) -> Row:
        """`last_used` refreshed at most every 12 hours: the retention of unused sets needs no more precision."""
        now = utcnow()
        if row.last_used is not None and now - row.last_used < LAST_USED_REFRESH:
            return row
        row = replace(row, last_used=now)
        self._memo[(project_id, row.ref)] = row
        self._touched[row.id] = now
        return row

    def record_failure(self, row: Row, reason: str) -> None:
        if row.failure_reason != reason:
            self._failures[row.id] = reason

    # Inside the write transaction -----------------------------------------------------------------------------

    def apply(self, session: Session) -> AppliedSymbols:
        applied = AppliedSymbols()
        self._insert_planned(session, applied)
        self._update(session)
        self._verify(session, applied)
        return applied

    def _insert_planned(self, session: Session, applied: AppliedSymbols) -> None:
        if not self._planned:
            return
        table = SymbolSet.__table__
        now = utcnow()
        rows = [
            {
                "id": row.id,
                "project_id": project_id,
                "ref": ref,
                "storage_ptr": row.storage_ptr,
                "content_hash": row.content_hash,
                "failure_reason": row.failure_reason,
                "last_used": row.last_used,
                "created_at": now,
            }
            for (project_id, ref), row in sorted(self._planned.items())
        ]
        result = upsert(session, table, rows, index_elements=["project_id", "ref"], returning=[table.c.id])
        inserted = {r[0] for r in result} if result is not None else set()
        for key, row in self._planned.items():
            if row.id in inserted:
                continue
            self._unshareable.add(key)
            winner = session.execute(
                sa.select(table.c.id, table.c.storage_ptr, table.c.content_hash).where(
                    table.c.project_id == key[0], table.c.ref == key[1]
                )
            ).first()
            applied.replaced_ids[row.id] = winner.id if winner is not None else None
            if winner is not None and winner.storage_ptr and winner.content_hash and not row.usable:
                applied.stale = True  # an upload arrived while we concluded there was none

    def _update(self, session: Session) -> None:
        table = SymbolSet.__table__
        # One row at a time in id order: concurrent PostgreSQL batches then lock shared rows in the same order.
        if self._touched:
            session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(last_used=sa.bindparam("b_at")),
                [{"b_id": i, "b_at": at} for i, at in sorted(self._touched.items())],
            )
        if self._failures:
            session.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"))
                .values(failure_reason=sa.bindparam("b_reason")),
                [{"b_id": i, "b_reason": reason} for i, reason in sorted(self._failures.items())],
            )

    def _verify(self, session: Session, applied: AppliedSymbols) -> None:
        table = SymbolSet.__table__
        by_id = {row.id: key for key, row in self._memo.items() if key not in self._planned}
        recheck = {key for key in self._absent if key not in self._planned}
        current: dict[uuid.UUID, Any] = {}
        for chunk in _chunks(sorted(by_id)):
            stmt = (
                sa.select(table.c.id, table.c.storage_ptr, table.c.content_hash)
                .where(table.c.id.in_(chunk))
                .order_by(table.c.id)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(key_share=True)
            current.update((r.id, r) for r in session.execute(stmt))
        for row_id, key in by_id.items():
            row, now = self._memo[key], current.get(row_id)
            if now is not None and (now.storage_ptr, now.content_hash) == (row.storage_ptr, row.content_hash):
                continue
            self._unshareable.add(key)
            self.shared.discard(key)
            if now is None:
                applied.replaced_ids[row_id] = None
                recheck.add(key)  # deleted: maybe uploaded again under a new id
            else:
                applied.stale = True
        by_project: dict[int, list[str]] = defaultdict(list)
        for project_id, ref in recheck:
            by_project[project_id].append(ref)
        for project_id, refs in by_project.items():
            for chunk in _chunks(sorted(refs)):
                uploaded = session.execute(
                    sa.select(table.c.id).where(
                        table.c.project_id == project_id,
                        table.c.ref.in_(chunk),
                        table.c.storage_ptr.is_not(None),
                        table.c.content_hash.is_not(None),
                    )
                ).first()
                if uploaded is not None:
                    applied.stale = True

    # After the transaction ---------------------------------------------------------------------------------------

    def finish(self, committed: bool) -> list[str]:
        """Share what the committed batch learned; the storage keys of blobs this batch stored that no row points
        to (the transaction rolled back, or another process's row won), for the caller to delete."""
        orphans = [
            row.storage_ptr
            for key, row in self._planned.items()
            if row.storage_ptr is not None and (not committed or key in self._unshareable)
        ]
        if committed:
            for key, row in self._memo.items():
                if key not in self._unshareable:
                    self.shared.put(key, row)
        return orphans
