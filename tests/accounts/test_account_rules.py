"""Account rules the web pages apply through the accounts service (not in the views): changing one's password and
naming a project."""

from __future__ import annotations

import pytest

from faultline.accounts import service as accounts
from faultline.accounts.models import Project, User
from faultline.db import Database
from tests.conftest import Tenant


def test_password_change_needs_the_current_password_and_a_long_enough_new_one(db: Database, seed: Tenant) -> None:
    with db.write() as session:
        user = session.get(User, seed.user.id)
        assert accounts.password_change_problems(user, "wrong", "short") == {
            "current_password": "This is not your current password.",
            "new_password": "Passwords must be at least 8 characters.",
        }
        with pytest.raises(accounts.AccountError) as refused:
            accounts.change_password(session, user, "wrong", "battery staple")
        assert refused.value.attr == "current_password"
        accounts.change_password(session, user, "correct horse", "battery staple")
        assert accounts.password_change_problems(user, "battery staple", "another one") == {}


@pytest.mark.parametrize(
    ("name", "message"),
    [("   ", "The project needs a name."), ("x" * 201, "Ensure this field has no more than 200 characters.")],
)
def test_project_names_are_checked_by_the_service(db: Database, seed: Tenant, name: str, message: str) -> None:
    with db.write() as session, pytest.raises(accounts.AccountError) as refused:
        accounts.update_project(session, seed.project.id, name=name)
    assert (refused.value.attr, refused.value.detail) == ("name", message)
    with db.write() as session:
        assert accounts.update_project(session, seed.project.id, name=" Shop ").name == "Shop"
        assert session.get(Project, seed.project.id).name == "Shop"
