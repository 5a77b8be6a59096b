"""Account commands: `createuser`, `createkey`, `projects …` and `orgs …`.

A user may belong to several organizations (PostHog's model): `orgs add-member` puts an existing user in another one
with a role; their sessions and API keys then reach its projects too (an API key's `scoped_organizations` can narrow
that). The CLI acts as the operator: it is exempt from the admin-rank rules the organization page applies, but it
still refuses to leave an organization without an admin or owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa
import typer
from sqlalchemy.orm import Session

from faultline.accounts import grants, memberships
from faultline.accounts import secrets as creds
from faultline.accounts import service as accounts
from faultline.accounts.models import MembershipLevel, Organization, User
from faultline.cli.common import database, fail, settings_or_fail

projects_app = typer.Typer(help="List or create projects.", invoke_without_command=True, no_args_is_help=False)
orgs_app = typer.Typer(help="Organizations and their members (list with no subcommand).", invoke_without_command=True)

ROLE_HELP = f"Role: {', '.join(memberships.ROLES)}."


def _first_or_named_organization(session: Session, name_or_id: str | None) -> Organization:
    """For commands that create something in "the" organization: the first one (made on demand) unless named."""
    stmt = sa.select(Organization).order_by(Organization.created_at)
    orgs = list(session.execute(stmt).scalars())
    if name_or_id is None:
        if not orgs:
            return accounts.create_organization(session, "Default")
        return orgs[0]
    for org in orgs:
        if str(org.id) == name_or_id or org.name == name_or_id:
            return org
    fail(f"no organization named or with id {name_or_id!r}")


def find_organization(session: Session, name_or_id: str) -> Organization:
    """By id, or by name when exactly one organization has it (names are not unique)."""
    try:
        org_id = uuid.UUID(name_or_id) if len(name_or_id) <= 64 else None
    except ValueError:
        org_id = None
    if org_id is not None:
        org = session.get(Organization, org_id)
        if org is not None:
            return org
    named = list(session.execute(sa.select(Organization).where(Organization.name == name_or_id)).scalars())
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        fail(f"{len(named)} organizations are named {name_or_id!r}; use an id: {', '.join(str(o.id) for o in named)}")
    fail(f"no organization named or with id {name_or_id!r} (see `faultline orgs`)")


@orgs_app.callback()
def orgs_list(ctx: typer.Context) -> None:
    """Without a subcommand: every organization with its id, member count and project count."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_fail()
    with database(settings, create=False) as db, db.read() as session:
        rows = session.execute(sa.select(Organization).order_by(Organization.created_at)).scalars().all()
        summary = [(org, len(memberships.members(session, org.id)), len(org.projects)) for org in rows]
    if not summary:
        typer.echo("no organizations yet: run `faultline serve` once or `faultline orgs create NAME`")
        return
    typer.echo(f"{'id':<36}  {'name':<24} {'members':>7} {'projects':>8}")
    for org, member_count, project_count in summary:
        typer.echo(f"{org.id!s:<36}  {org.name[:24]:<24} {member_count:>7} {project_count:>8}")


@orgs_app.command("create")
def orgs_create(name: str = typer.Argument(..., metavar="NAME", help="Organization name.")) -> None:
    """Create an organization and print its id (add members and projects to it next)."""

    def create(session: Session) -> str:
        org = accounts.create_organization(session, name[:200])
        return f"created organization {org.name!r} (id {org.id})"

    _write(create)


@orgs_app.command("members")
def orgs_members(
    organization: str = typer.Argument(..., metavar="ORGANIZATION", help="Organization name or id."),
) -> None:
    """List an organization's members with their roles."""
    settings = settings_or_fail()
    with database(settings, create=False) as db, db.read() as session:
        org = find_organization(session, organization)
        rows = memberships.members(session, org.id)
    if not rows:
        typer.echo(f"organization {org.name!r} has no members")
        return
    for member in rows:
        typer.echo(f"{member.user.email:<40} {member.role:<7} (user id {member.user.id})")


def _write(action: Callable[[Session], str]) -> None:
    """Run `action` in one write transaction and print what it returns; a refusal is one line and exit code 2."""
    settings = settings_or_fail()
    with database(settings, create=False) as db:
        try:
            with db.write() as session:
                line = action(session)
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(line)


def _member(session: Session, organization: str, email: str) -> tuple[Organization, User]:
    org = find_organization(session, organization)
    user = accounts.get_user_by_email(session, email)
    if user is None:
        raise memberships.MembershipError(f"No user with e-mail {email!r}.")
    return org, user


@orgs_app.command("add-member")
def orgs_add_member(
    email: str = typer.Argument(..., metavar="EMAIL", help="E-mail of an existing user (see `faultline createuser`)."),
    organization: str = typer.Argument(..., metavar="ORGANIZATION", help="Organization name or id."),
    role: str = typer.Option("member", help=ROLE_HELP),
) -> None:
    """Add an existing user to an organization (a user may belong to several)."""

    def add(session: Session) -> str:
        org = find_organization(session, organization)
        member = memberships.add(session, org.id, email, memberships.parse_role(role), actor_level=None)
        return f"added {member.user.email} to organization {org.name!r} as {member.role}"

    _write(add)


@orgs_app.command("set-role")
def orgs_set_role(
    email: str = typer.Argument(..., metavar="EMAIL", help="E-mail of a member."),
    organization: str = typer.Argument(..., metavar="ORGANIZATION", help="Organization name or id."),
    role: str = typer.Argument(..., metavar="ROLE", help=ROLE_HELP),
) -> None:
    """Change a member's role."""

    def set_role(session: Session) -> str:
        org, user = _member(session, organization, email)
        level = memberships.parse_role(role)
        memberships.set_level(session, org.id, user.id, level, actor_level=None)
        return f"{user.email} is now {memberships.role_name(level)} of organization {org.name!r}"

    _write(set_role)


@orgs_app.command("remove-member")
def orgs_remove_member(
    email: str = typer.Argument(..., metavar="EMAIL", help="E-mail of a member."),
    organization: str = typer.Argument(..., metavar="ORGANIZATION", help="Organization name or id."),
) -> None:
    """Remove a user from an organization; their sessions and keys stop reaching its projects at once."""

    def remove(session: Session) -> str:
        org, user = _member(session, organization, email)
        memberships.remove(session, org.id, user.id, actor_level=None)
        return f"removed {user.email} from organization {org.name!r}"

    _write(remove)


def createuser(
    email: str = typer.Argument(..., metavar="EMAIL", help="Login e-mail address."),
    password: str = typer.Option(None, help="Password (8+ characters). Omit to generate and print one."),
    first_name: str = typer.Option("", help="Display name."),
    organization: str = typer.Option(None, help="Organization name or id (default: the first one)."),
    admin: bool = typer.Option(False, help="Make the user an organization admin."),
    staff: bool = typer.Option(False, help="Make the user an instance administrator."),
) -> None:
    """Create a user who can log in to the web UI, as a member of an organization."""
    settings = settings_or_fail()
    generated = password is None
    password = password or creds.new_password()
    with database(settings, create=False) as db:
        try:
            with db.write() as session:
                org = _first_or_named_organization(session, organization)
                user = accounts.create_user(
                    session,
                    email,
                    password=password,
                    first_name=first_name,
                    is_staff=staff,
                    organization=org,
                    level=MembershipLevel.ADMIN if admin else MembershipLevel.MEMBER,
                )
                summary = f"created user {user.email} (id {user.id}) in organization {org.name!r}"
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(summary)
    if generated:
        typer.echo(f"password: {password}")


def createkey(
    email: str = typer.Argument(..., metavar="EMAIL", help="E-mail of the user who owns the key."),
    scopes: str = typer.Option(
        "error_tracking:read,error_tracking:write",
        help=f"Comma-separated scopes; any of: {', '.join(accounts.ALL_SCOPES)}.",
    ),
    label: str = typer.Option("cli", help="Label shown in the key list."),
    project: list[int] = typer.Option(None, help="Restrict the key to this project id (repeatable)."),
    organization: list[str] = typer.Option(
        None, help="Restrict the key to this organization id (repeatable; see `faultline orgs`)."
    ),
) -> None:
    """Create a personal API key (printed once; only its hash is stored)."""
    settings = settings_or_fail()
    with database(settings, create=False) as db:
        try:
            with db.write() as session:
                user = accounts.get_user_by_email(session, email)
                if user is None:
                    fail(f"no user with email {email!r}")
                grant = grants.check_new_key(
                    session,
                    user.id,
                    grants.Reach.everything(),
                    scopes=scopes.split(","),
                    scoped_teams=project or None,
                    scoped_organizations=organization or None,
                )
                _key, value = accounts.create_api_key(
                    session,
                    user,
                    label=label,
                    scopes=grant.scopes,
                    scoped_teams=grant.scoped_teams,
                    scoped_organizations=grant.scoped_organizations,
                )
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(value)


@projects_app.callback()
def projects_list(ctx: typer.Context) -> None:
    """Without a subcommand: list every project with its id and capture token."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_fail()
    with database(settings, create=False) as db, db.read() as session:
        rows = accounts.list_projects(session)
    if not rows:
        typer.echo("no projects yet: run `faultline serve` once or `faultline projects create NAME`")
        return
    typer.echo(f"{'id':>4}  {'name':<24} {'organization':<20} token")
    for project, org in rows:
        typer.echo(f"{project.id:>4}  {project.name[:24]:<24} {org.name[:20]:<20} {project.api_token}")


@projects_app.command("create")
def projects_create(
    name: str = typer.Argument(..., metavar="NAME", help="Project name."),
    organization: str = typer.Option(None, help="Organization name or id (default: the first one)."),
) -> None:
    """Create a project and print its id and capture token."""
    settings = settings_or_fail()
    with database(settings, create=False) as db:
        try:
            with db.write() as session:
                org = _first_or_named_organization(session, organization)
                project = accounts.create_project(session, org, name)
                line = f"created project {project.name!r} (id {project.id}) token {project.api_token}"
        except accounts.AccountError as exc:
            fail(str(exc))
    typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command()(createuser)
    app.command()(createkey)


def register_groups(app: typer.Typer) -> None:
    app.add_typer(projects_app, name="projects")
    app.add_typer(orgs_app, name="orgs")
