"""Autocapture controls and error-tracking settings, shared by the REST API and the UI.

Every write bumps the project's config revision so remote config served to SDKs is rebuilt. The project's
`autocapture_exceptions_opt_in` flag lives on the project row (PostHog's team field); remote config reads it on
every request, so a change through the project endpoint (`PATCH /api/environments/{id}/`) takes effect too.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import Project
from faultline.autocapture.models import AutocaptureControls, ErrorTrackingSettings
from faultline.db import upsert, utcnow
from faultline.ids import uuid7
from faultline.rules import revisions

CONTROL_FIELDS = ("match_type", "sample_rate", "linked_feature_flag", "event_triggers", "url_triggers", "url_blocklist")
SETTINGS_LIMIT_FIELDS = (
    "project_rate_limit_value",
    "project_rate_limit_bucket_size_minutes",
    "per_issue_rate_limit_value",
    "per_issue_rate_limit_bucket_size_minutes",
)


def controls_out(controls: AutocaptureControls) -> dict[str, Any]:
    rate = decimal.Decimal(controls.sample_rate).quantize(decimal.Decimal("0.01"))
    return {
        "id": controls.id,
        "library": controls.library,
        "match_type": controls.match_type,
        "sample_rate": str(rate),
        "linked_feature_flag": controls.linked_feature_flag,
        "event_triggers": list(controls.event_triggers or []),
        "url_triggers": list(controls.url_triggers or []),
        "url_blocklist": list(controls.url_blocklist or []),
    }


def controls_for_library(session: Session, project_id: int, library: str) -> AutocaptureControls | None:
    return session.execute(
        sa.select(AutocaptureControls).where(
            AutocaptureControls.project_id == project_id, AutocaptureControls.library == library
        )
    ).scalar()


def get_controls(session: Session, project_id: int, controls_id: str) -> AutocaptureControls | None:
    try:
        parsed = uuid.UUID(controls_id)
    except ValueError:
        return None
    return session.execute(
        sa.select(AutocaptureControls).where(
            AutocaptureControls.id == parsed, AutocaptureControls.project_id == project_id
        )
    ).scalar()


def create_controls(
    session: Session, project_id: int, library: str, values: Mapping[str, Any]
) -> tuple[AutocaptureControls, bool]:
    """The library's controls, created from `values` unless they already exist (then returned untouched)."""
    existing = controls_for_library(session, project_id, library)
    if existing is not None:
        return existing, False
    now = utcnow()
    fields: dict[str, Any] = {
        "match_type": "all",
        "sample_rate": decimal.Decimal("1.00"),
        "linked_feature_flag": None,
        "event_triggers": [],
        "url_triggers": [],
        "url_blocklist": [],
    }
    fields.update({k: v for k, v in values.items() if k in CONTROL_FIELDS})
    # ON CONFLICT DO NOTHING: two concurrent creates for one library end with one row, as the unique key demands.
    upsert(
        session,
        AutocaptureControls.__table__,
        [{"id": uuid7(), "project_id": project_id, "library": library, "created_at": now, "updated_at": now, **fields}],
        index_elements=["project_id", "library"],
    )
    revisions.bump(session, project_id)
    created = controls_for_library(session, project_id, library)
    assert created is not None
    return created, True


def update_controls(session: Session, controls: AutocaptureControls, values: Mapping[str, Any]) -> AutocaptureControls:
    changes = {k: v for k, v in values.items() if k in CONTROL_FIELDS}
    if changes:
        session.execute(
            sa.update(AutocaptureControls)
            .where(AutocaptureControls.id == controls.id)
            .values(**changes, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        revisions.bump(session, controls.project_id)
        session.expire(controls)
    return controls


def delete_controls(session: Session, project_id: int, controls_id: uuid.UUID) -> None:
    session.execute(
        sa.delete(AutocaptureControls).where(
            AutocaptureControls.id == controls_id, AutocaptureControls.project_id == project_id
        )
    )
    revisions.bump(session, project_id)


# ------------------------------------------------------------------------------------------------------ settings


def get_settings(session: Session, project_id: int) -> dict[str, Any]:
    opt_in = session.execute(sa.select(Project.autocapture_exceptions_opt_in).where(Project.id == project_id)).scalar()
    row = session.get(ErrorTrackingSettings, project_id)
    result: dict[str, Any] = {"autocapture_exceptions_opt_in": bool(opt_in)}
    for name in SETTINGS_LIMIT_FIELDS:
        result[name] = getattr(row, name) if row is not None else None
    return result


def update_settings(session: Session, project_id: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """Apply only the keys present in `values` (None clears a rate limit)."""
    if "autocapture_exceptions_opt_in" in values:
        session.execute(
            sa.update(Project)
            .where(Project.id == project_id)
            .values(autocapture_exceptions_opt_in=bool(values["autocapture_exceptions_opt_in"]))
        )
    limits = {k: values[k] for k in SETTINGS_LIMIT_FIELDS if k in values}
    if limits:
        upsert(
            session,
            ErrorTrackingSettings.__table__,
            [{"project_id": project_id, "updated_at": utcnow(), **limits}],
            index_elements=["project_id"],
            update=[*limits, "updated_at"],
        )
    if values:
        revisions.bump(session, project_id)
    session.expire_all()
    return get_settings(session, project_id)
