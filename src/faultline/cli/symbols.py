"""`faultline symbols …`: see and run the re-symbolication jobs that late symbol-set uploads queue."""

from __future__ import annotations

import sqlalchemy as sa
import typer

from faultline.cli.common import database, settings_or_fail
from faultline.jobs.models import BackgroundJob
from faultline.symbols.repairjobs import KIND, serialize_job

symbols_app = typer.Typer(help="Symbol sets: re-symbolication jobs queued by late uploads.", no_args_is_help=True)


@symbols_app.command("repairs")
def list_repairs(
    project: int = typer.Option(None, help="Only this project id."),
    limit: int = typer.Option(20, help="How many jobs to show, newest first."),
) -> None:
    """List re-symbolication jobs with their progress."""
    settings = settings_or_fail()
    with database(settings, create=False) as db, db.read() as session:
        stmt = sa.select(BackgroundJob).where(BackgroundJob.kind == KIND)
        if project is not None:
            stmt = stmt.where(BackgroundJob.project_id == project)
        jobs = session.scalars(stmt.order_by(BackgroundJob.created_at.desc()).limit(limit)).all()
        rows = [(job.project_id, serialize_job(job)) for job in jobs]
    if not rows:
        typer.echo("no re-symbolication jobs")
        return
    typer.echo(f"{'project':>7}  {'status':<8} {'done':>4}  {'repaired':>8} {'regrouped':>9}  ref")
    for project_id, job in rows:
        progress = job["progress"]
        typer.echo(
            f"{project_id:>7}  {job['status']:<8} {progress.get('percent', 0):>3}%  {progress.get('repaired', 0):>8} "
            f"{progress.get('regrouped', 0):>9}  {job['ref']}" + (f"  error: {job['error']}" if job["error"] else "")
        )


@symbols_app.command("repair")
def run_repairs(project: int = typer.Option(None, help="Only this project id.")) -> None:
    """Run every pending (or abandoned) re-symbolication job now, in the foreground."""
    from faultline.runtime import Runtime

    settings = settings_or_fail()
    with database(settings, create=False) as db:
        finished = Runtime(settings, db=db).repair_runner(project_id=project).run_pending()
    typer.echo(f"finished {finished} re-symbolication job{'s' if finished != 1 else ''}")
