"""What the rule-list page's actions mean, decided by the rules service (the page only calls it): a new rule goes
last, moving swaps with the neighbour and renumbers, enabling clears the digest's disable and bumps the revision."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.rules import revisions
from faultline.rules import service as rules
from faultline.rules.models import SuppressionRule
from tests.conftest import Tenant


def _ordered(db: Database, seed: Tenant) -> list[object]:
    with db.read() as session:
        return list(session.execute(rules.list_rules(session, SuppressionRule, seed.project.id)).scalars())


def _create(db: Database, seed: Tenant, *, last: bool) -> object:
    with db.write() as session:
        rule = rules.create_suppression_rule(session, seed.project.id, filters=None, sampling_rate=1.0)
        if last:
            rules.place_last(session, SuppressionRule, seed.project.id, rule)
        return rule.id


def test_place_last_and_move(db: Database, seed: Tenant) -> None:
    first = _create(db, seed, last=False)
    second = _create(db, seed, last=True)
    third = _create(db, seed, last=True)
    assert [r.id for r in _ordered(db, seed)] == [first, second, third]
    with db.write() as session:
        rule = session.get(SuppressionRule, third)
        assert rules.move_rule(session, SuppressionRule, seed.project.id, rule, "up") is True
    assert [(r.id, r.order_key) for r in _ordered(db, seed)] == [(first, 0), (third, 1), (second, 2)]
    with db.write() as session:
        rule = session.get(SuppressionRule, first)
        assert rules.move_rule(session, SuppressionRule, seed.project.id, rule, "up") is False  # already first
        with pytest.raises(rules.RuleError, match="Move a rule up or down"):
            rules.move_rule(session, SuppressionRule, seed.project.id, rule, "sideways")


def test_enable_clears_the_disable_and_bumps_the_revision(db: Database, seed: Tenant) -> None:
    rule_id = _create(db, seed, last=False)
    with db.write() as session:
        session.execute(
            sa.update(SuppressionRule).where(SuppressionRule.id == rule_id).values(disabled_data={"message": "boom"})
        )
        before = revisions.current(session, seed.project.id)
    with db.write() as session:
        rules.enable_rule(session, session.get(SuppressionRule, rule_id))
    with db.read() as session:
        assert session.get(SuppressionRule, rule_id).disabled_data is None
        assert revisions.current(session, seed.project.id) > before
