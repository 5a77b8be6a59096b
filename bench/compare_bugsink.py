"""Faultline and Bugsink side by side on the identical Sentry envelope stream, in one run on one machine (issue 18).

    .venv/bin/python bench/compare_bugsink.py [--seconds 20] [--workers 2] [--report build/bench/report.md]

`make bench` runs this. What it does:

1. Bugsink (Django + SQLite, Sentry protocol; `pip install bugsink==2.6.2`) is installed into its own venv,
   `build/bugsink-venv`, and set up the way its single-server guide documents: `bugsink-create-conf
   --template=singleserver`, `bugsink-manage migrate` (+ the snappea database), a team and a project whose DSN key
   the stream uses, `gunicorn bugsink.wsgi` for HTTP and `bugsink-runsnappea` for the digest. Deviations from the
   template, all in the appended block of its conf: plain HTTP on loopback (no nginx in front, so no TLS cookie
   flags and no X-Real-IP), and the per-project/installation event quotas lifted (Bugsink refuses events beyond
   1,000 per 5 minutes by default; Faultline has no such default, and a quota would measure the quota). Worker
   count: `--workers` gunicorn workers and as many snappea workers (default 2 = the cores, what Bugsink's own
   gunicorn conf picks for its Docker image). The migrated databases are made once and copied for each run.
2. Faultline: `faultline serve`, the embedded default (SQLite, SQLite queue, one process: async HTTP + one digest
   thread), fresh data dir, default settings; the DSN from its first-start banner.
3. Streams (bench/load.py): sentry-python envelopes padded to 5 KB and 50 KB of event, ~1 % new fingerprints; and
   PostHog `$exception` batches (Faultline only: Bugsink does not speak it). Per stream and server: a fresh server,
   `--seconds` flat out with `--concurrency` connections, then wait (at most `--drain` s) until every acknowledged
   event is stored (Faultline: the ingestion report's `accepted` counter, written in the digest's transaction;
   Bugsink: the project's `digested_event_count`, read from its SQLite file); then `--seconds`/2 at half the
   flat-out ack rate for the p99 ack latency. Peak RSS is the sum over the server's process tree (gunicorn master +
   workers + snappea for Bugsink), sampled every 250 ms.

Prints a table and Faultline's ratio to Bugsink for each measure, and the issue's targets with PASS/MISS and the
gap; writes it all, with the machine and its load, to `--report` (Markdown). On a shared machine absolute numbers
move with the neighbours' load; the ratios are measured within one run, server after server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.live_server import LiveServer, free_port  # noqa: E402

import load  # noqa: E402  (bench/load.py)

BUGSINK_VERSION = "2.6.2"
BUILD = ROOT / "build"
BUGSINK_VENV = BUILD / "bugsink-venv"
BUGSINK_TEMPLATE = BUILD / "bench" / f"bugsink-{BUGSINK_VERSION}-migrated"
SIZES = (5_000, 50_000)

TARGET_RATIO = 30
TARGET_SENTRY_DIGEST = {5_000: 1_000, 50_000: 300}
TARGET_POSTHOG_ACK, TARGET_POSTHOG_DIGEST = 8_000, 3_000
TARGET_P99_MS = 20
TARGET_IDLE_MIB = 120


# ---------------------------------------------------------------------------------------------------------------------
# Bugsink


def ensure_bugsink() -> Path:
    """Bugsink's venv under build/ (created once; a pinned version so runs compare)."""
    bindir = BUGSINK_VENV / "bin"
    if not (bindir / "bugsink-manage").exists():
        print(f"installing bugsink=={BUGSINK_VERSION} into {BUGSINK_VENV} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BUGSINK_VENV)], check=True)
        subprocess.run([str(bindir / "pip"), "install", "-q", f"bugsink=={BUGSINK_VERSION}"], check=True)
    return bindir


def _conf_overrides(port: int, workers: int) -> str:
    return f"""

# ---- bench/compare_bugsink.py: loopback, no reverse proxy, quotas lifted, worker count ----
BUGSINK["BASE_URL"] = "http://127.0.0.1:{port}"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECURE_PROXY_SSL_HEADER = None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
USE_X_REAL_IP = False
SNAPPEA["NUM_WORKERS"] = {workers}
for _quota in (
    "MAX_EVENTS_PER_PROJECT_PER_5_MINUTES", "MAX_EVENTS_PER_PROJECT_PER_HOUR", "MAX_EVENTS_PER_PROJECT_PER_MONTH",
    "MAX_EVENTS_PER_5_MINUTES", "MAX_EVENTS_PER_HOUR", "MAX_EVENTS_PER_MONTH",
):
    BUGSINK[_quota] = 10**12
"""


class Bugsink:
    """One Bugsink installation in `home` (its conf, SQLite databases, ingestion store), on a free port."""

    def __init__(self, bindir: Path, home: Path, *, workers: int) -> None:
        self.bindir = bindir
        self.home = home
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.project_id = 0
        self.key = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FAULTLINE_"))}
        env.update({"DJANGO_SETTINGS_MODULE": "bugsink_conf", "PYTHONPATH": str(self.home)})
        return env

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.bindir / "bugsink-manage"), *args],
            cwd=self.home,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            raise RuntimeError(f"bugsink-manage {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def configure(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                str(self.bindir / "bugsink-create-conf"),
                "--template=singleserver",
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--base-dir={self.home}",
            ],
            cwd=self.home,
            check=True,
            capture_output=True,
        )
        with (self.home / "bugsink_conf.py").open("a") as conf:
            conf.write(_conf_overrides(self.port, self.workers))

    def migrate_and_create_project(self) -> None:
        self.manage("migrate", "-v0")
        self.manage("migrate", "snappea", "--database=snappea", "-v0")
        script = (
            "from teams.models import Team\nfrom projects.models import Project\n"
            "team = Team.objects.create(name='bench')\n"
            "project = Project.objects.create(team=team, name='bench', slug='bench')\n"
            "print('PROJECT', project.id, project.sentry_key.hex)\n"
        )
        match = re.search(r"PROJECT (\d+) ([0-9a-f]{32})", self.manage("shell", "-c", script))
        assert match, "no project created"
        self.project_id, self.key = int(match.group(1)), match.group(2)

    def setup(self) -> None:
        """Configure; take the migrated databases (with the project) from the template, making it on first use."""
        self.configure()
        if not (BUGSINK_TEMPLATE / "project.json").exists():
            print("migrating a Bugsink template database (first run only) …", flush=True)
            shutil.rmtree(BUGSINK_TEMPLATE, ignore_errors=True)
            self.migrate_and_create_project()
            BUGSINK_TEMPLATE.mkdir(parents=True)
            for name in ("db.sqlite3", "snappea.sqlite3"):
                shutil.copy(self.home / name, BUGSINK_TEMPLATE / name)
            (BUGSINK_TEMPLATE / "project.json").write_text(json.dumps({"id": self.project_id, "key": self.key}))
            return
        for name in ("db.sqlite3", "snappea.sqlite3"):
            shutil.copy(BUGSINK_TEMPLATE / name, self.home / name)
        project = json.loads((BUGSINK_TEMPLATE / "project.json").read_text())
        self.project_id, self.key = project["id"], project["key"]

    def start(self, timeout: float = 180) -> None:
        log = (self.home / "server.log").open("ab")
        gunicorn = [str(self.bindir / "gunicorn"), f"--bind=127.0.0.1:{self.port}", f"--workers={self.workers}"]
        for argv in ([*gunicorn, "bugsink.wsgi"], [str(self.bindir / "bugsink-runsnappea")]):
            self.processes.append(
                subprocess.Popen(
                    argv, cwd=self.home, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.poll() is not None:
                    raise RuntimeError(f"bugsink exited: {(self.home / 'server.log').read_text()[-3000:]}")
            try:
                # The envelope endpoint answers a GET with 405 once Django is up in a worker.
                if httpx.get(f"{self.url}/api/{self.project_id}/envelope/", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("bugsink did not start")

    def stored(self) -> load.Counter_:
        path = self.home / "db.sqlite3"
        project_id = self.project_id

        def read() -> int:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
                row = conn.execute("SELECT digested_event_count FROM projects_project WHERE id = ?", (project_id,))
                return int(row.fetchone()[0])

        async def count() -> int:
            return await asyncio.to_thread(read)

        return count

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.processes = []


# ---------------------------------------------------------------------------------------------------------------------
# Faultline


DSN = re.compile(r"Sentry DSN:\s+(\S+)")


@contextlib.contextmanager
def faultline() -> Iterator[tuple[LiveServer, dict[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data")
        server.start(timeout=180)
        try:
            creds = server.credentials()
            match = DSN.search(server.output())
            if match:  # http://<key>@host/<project id>
                creds["sentry_key"] = match.group(1).split("//", 1)[1].split("@", 1)[0]
            yield server, creds
        finally:
            server.stop()


# ---------------------------------------------------------------------------------------------------------------------
# The run


@dataclasses.dataclass
class Row:
    stream: str
    system: str
    flat: load.LoadResult
    half: load.LoadResult
    peak_mib: float
    idle_mib: float
    same: load.LoadResult | None = None  # Faultline at Bugsink's half rate: the two at the identical rate


async def _phases(
    url: str, stream: load.Stream, args: argparse.Namespace, stored: load.Counter_, system: str
) -> tuple[load.LoadResult, load.LoadResult, load.LoadResult | None]:
    label = f"{system} {args.stream_name}"
    # Warm-up, not measured: both servers build things on first use (FastAPI its route table, Django its apps and
    # gunicorn workers their imports), a cost of the first seconds after a start, not of a steady state.
    await load.run_load(
        url, stream, events=10 * stream.events_per_request, seconds=120, concurrency=2, stored=stored, drain_seconds=60
    )
    flat = await load.run_load(
        url,
        stream,
        label=label,
        events=args.max_events,
        seconds=args.seconds,
        concurrency=args.concurrency,
        stored=stored,
        drain_seconds=args.drain,
    )
    print("  " + flat.line(), flush=True)
    rate = max(flat.acked_per_s / 2, 1.0)
    half = await load.run_load(
        url, stream, label=label, events=args.max_events, seconds=args.seconds / 2, rate=rate, concurrency=16
    )
    print("  " + half.line(), flush=True)
    same = None
    if system == "Faultline" and args.same_rate:
        same = await load.run_load(
            url, stream, label=label, events=args.max_events, seconds=args.seconds / 2, rate=args.same_rate
        )
        print("  " + same.line() + "  (Bugsink's half rate)", flush=True)
    return flat, half, same


def measure(
    pids: list[int], url: str, stream: load.Stream, args: argparse.Namespace, stored: load.Counter_, system: str
) -> Row:
    samplers = [load.RssSampler(pid) for pid in pids]
    for s in samplers:
        s.__enter__()
    time.sleep(2)  # idle
    idle = sum(s.now_mib() for s in samplers)
    for s in samplers:
        s.reset()
    try:
        flat, half, same = asyncio.run(_phases(url, stream, args, stored, system))
    finally:
        for s in samplers:
            s.__exit__()
    peak = sum(s.peak_mib for s in samplers)
    return Row(args.stream_name, system, flat, half, peak, idle, same)


def run_bugsink(bindir: Path, size: int, args: argparse.Namespace, work: Path) -> Row:
    server = Bugsink(bindir, work / f"bugsink-{size}", workers=args.workers)
    server.setup()
    server.start()
    try:
        stream = load.SentryStream(server.project_id, server.key, size=size, run=args.run_id)
        return measure(server.pids, server.url, stream, args, server.stored(), "Bugsink")
    finally:
        server.stop()


def run_faultline(size: int | None, args: argparse.Namespace) -> Row:
    with faultline() as (server, creds):
        assert server.process is not None
        stored = load.faultline_stored(server.url, creds["project_id"], creds["api_key"])
        if size is None:
            stream: load.Stream = load.PostHogStream(creds["project_token"], run=args.run_id)
        else:
            if "sentry_key" not in creds:
                raise SystemExit("this Faultline prints no Sentry DSN: the Sentry protocol (issue 14) is missing")
            stream = load.SentryStream(creds["project_id"], creds["sentry_key"], size=size, run=args.run_id)
        return measure([server.process.pid], server.url, stream, args, stored, "Faultline")


# ---------------------------------------------------------------------------------------------------------------------
# Report


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:,.1f}×"


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "rev": rev.stdout.strip() or "?",
    }


def report(rows: list[Row], args: argparse.Namespace, before: dict[str, str], seconds: float) -> str:
    after = machine()
    out = [
        "# Faultline vs Bugsink: benchmark report",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}, `{' '.join(['bench/compare_bugsink.py', *args.argv])}`, "
        f"{seconds:.0f} s; Faultline at {before['rev']}, Bugsink {BUGSINK_VERSION} "
        f"({args.workers} gunicorn + {args.workers} snappea workers).",
        f"Machine: {before['cpus']} CPUs ({before['cpu']}), Python {before['python']}, Linux {before['kernel']}; "
        f"load average {before['load']} at the start, {after['load']} at the end (other jobs share the machine: "
        "absolute numbers move with them, the ratios are measured within this run).",
        "",
        "| stream | server | acked/s | digested/s | backlog after drain | p99 ack ms @ ½ max | p50 ack ms @ ½ max | "
        "peak RSS MiB | idle RSS MiB | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        errors = {**r.flat.errors, **{f"½:{k}": v for k, v in r.half.errors.items()}}
        out.append(
            f"| {r.stream} | {r.system} | {_fmt(r.flat.acked_per_s)} | {_fmt(r.flat.digested_per_s)} | "
            f"{r.flat.backlog} | {_fmt(r.half.p(99), 1)} | {_fmt(r.half.p(50), 1)} | {r.peak_mib:.0f} | "
            f"{r.idle_mib:.0f} | {errors or ''} |"
        )
    out += ["", "Faultline / Bugsink, same stream, same run:", ""]
    out += [
        "| stream | acked/s | digested/s | p99 ack, each at ½ its max (Bugsink ÷ Faultline) | p99 ack at the same rate "
        "(Bugsink's ½ max; Bugsink ÷ Faultline) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    by = {(r.stream, r.system): r for r in rows}
    for size in SIZES:
        name = f"sentry {size // 1000} KB"
        f, b = by.get((name, "Faultline")), by.get((name, "Bugsink"))
        if f and b:
            out.append(
                f"| {name} | {_ratio(f.flat.acked_per_s, b.flat.acked_per_s)} | "
                f"{_ratio(f.flat.digested_per_s, b.flat.digested_per_s)} | {_ratio(b.half.p(99), f.half.p(99))} | "
                f"{_ratio(b.half.p(99), f.same.p(99)) if f.same else '—'} "
                f"({_fmt(b.half.p(99), 1)} vs {_fmt(f.same.p(99) if f.same else None, 1)} ms) | "
                f"{_ratio(f.peak_mib, b.peak_mib)} |"
            )
    out += ["", "Targets (issue 18, 2-core machine, embedded default):", ""]
    for line in targets(by):
        out.append(f"- {line}")
    out.append("")
    return "\n".join(out)


def targets(by: dict[tuple[str, str], Row]) -> list[str]:
    lines = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    for size in SIZES:
        name = f"sentry {size // 1000} KB"
        f, b = by.get((name, "Faultline")), by.get((name, "Bugsink"))
        if not f:
            continue
        fd = f.flat.digested_per_s or 0.0
        goal = TARGET_SENTRY_DIGEST[size]
        lines.append(
            f"{verdict(fd >= goal)} {name} digested ≥ {goal:,}/s: {fd:,.0f}/s (gap {max(0, goal - fd):,.0f}/s)"
        )
        if b and b.flat.digested_per_s:
            ratio = fd / b.flat.digested_per_s
            lines.append(f"{verdict(ratio >= TARGET_RATIO)} {name} digested ≥ {TARGET_RATIO}× Bugsink: {ratio:.1f}×")
    p = by.get(("posthog 3 KB", "Faultline"))
    if p:
        ack, dig = p.flat.acked_per_s, p.flat.digested_per_s or 0.0
        lines.append(f"{verdict(ack >= TARGET_POSTHOG_ACK)} PostHog acked ≥ {TARGET_POSTHOG_ACK:,}/s: {ack:,.0f}/s")
        lines.append(
            f"{verdict(dig >= TARGET_POSTHOG_DIGEST)} PostHog digested ≥ {TARGET_POSTHOG_DIGEST:,}/s: {dig:,.0f}/s"
        )
    for (name, system), r in by.items():
        if system == "Faultline":
            p99 = r.half.p(99)
            lines.append(
                f"{verdict(p99 < TARGET_P99_MS)} {name} p99 ack < {TARGET_P99_MS} ms at half the maximum rate "
                f"({r.half.mode}): {p99:.1f} ms"
            )
    idle = [r.idle_mib for (_, system), r in by.items() if system == "Faultline"]
    if idle:
        lines.append(f"{verdict(max(idle) < TARGET_IDLE_MIB)} idle RSS < {TARGET_IDLE_MIB} MiB: {max(idle):.0f} MiB")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="flat-out phase length (the half-rate one: half)")
    parser.add_argument("--drain", type=float, default=20.0, help="most seconds to wait for the digest to catch up")
    parser.add_argument("--max-events", type=int, default=500_000, help="cap per phase")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in the flat-out phases")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Bugsink gunicorn/snappea workers")
    parser.add_argument("--sizes", default="5000,50000", help="Sentry event sizes (bytes)")
    parser.add_argument("--no-posthog", action="store_true", help="skip the PostHog stream")
    parser.add_argument("--no-bugsink", action="store_true", help="Faultline only")
    parser.add_argument("--report", type=Path, default=BUILD / "bench" / "report.md")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    args.run_id = os.urandom(3).hex()
    started, before = time.monotonic(), machine()
    print(f"machine: {before['cpus']} CPUs, {before['cpu']}, load {before['load']}", flush=True)
    rows: list[Row] = []
    bindir = None if args.no_bugsink else ensure_bugsink()
    with tempfile.TemporaryDirectory(prefix="bench-bugsink-") as tmp:
        if not args.no_posthog:
            args.stream_name, args.same_rate = "posthog 3 KB", None
            print(f"== {args.stream_name}", flush=True)
            rows.append(run_faultline(None, args))
        for size in (int(s) for s in args.sizes.split(",")):
            args.stream_name = f"sentry {size // 1000} KB"
            print(f"== {args.stream_name}", flush=True)
            args.same_rate = None
            if bindir is not None:
                rows.append(run_bugsink(bindir, size, args, Path(tmp)))
                args.same_rate = max(rows[-1].flat.acked_per_s / 2, 1.0)
            rows.append(run_faultline(size, args))
    text = report(rows, args, before, time.monotonic() - started)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print()
    print(text)
    print(f"written to {args.report}")


if __name__ == "__main__":
    main()
