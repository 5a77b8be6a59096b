"""The per-project config revision: bump it with every write that changes what workers or SDKs read.

Bumping inside the writer's transaction means a reader can never see the new revision without the new rows (or
the other way round); reading it is one primary-key lookup, cheap enough for every digest batch and every
remote-config request.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.db import insert_for, utcnow
from faultline.rules.models import ConfigRevision

_table = ConfigRevision.__table__


def bump(session: Session, project_id: int) -> None:
    now = utcnow()
    stmt = insert_for(session.get_bind().dialect.name, _table).values(project_id=project_id, revision=1, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id"], set_={"revision": _table.c.revision + 1, "updated_at": now}
    )
    session.execute(stmt)


def current(session: Session, project_id: int) -> int:
    value = session.execute(sa.select(_table.c.revision).where(_table.c.project_id == project_id)).scalar()
    return int(value or 0)
