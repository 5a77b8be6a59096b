"""Soak: steady load on one `faultline serve` for a long while; does memory drift, does the digest keep up (issue 18)?

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 100] [--protocol posthog|sentry] [--interval 10]
    make soak                                  # 10 minutes, the documented short soak
    .venv/bin/python bench/soak.py --minutes 60  # the documented long one

A fresh server (embedded default: SQLite, SQLite queue, one process), bench/load.py's stream at a fixed `--rate`
(events/s; PostHog batches of 100, or one Sentry envelope of `--size` bytes per request). Every `--interval` seconds
it samples:
* RSS of the server process (MiB);
* queue depth: events waiting for the digest (`queue.pending` of the ingestion report);
* digest lag: how old the newest stored event's acknowledgement is — the time since the moment the client had
  received as many acknowledgements as there are stored events now (0 while the digest keeps up).
At the end it prints the samples, the RSS drift (last sample against the first sample after the warm-up, the first
10 % of the run, at least one interval) with the target (< 5 %), the largest lag and depth, and writes a PNG plot of
RSS, lag and depth over time (`--png`, default build/bench/soak.png) and the numbers as Markdown (`--report`).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.live_server import LiveServer  # noqa: E402

import load  # noqa: E402  (bench/load.py)

TARGET_DRIFT_PCT = 5.0
TARGET_IDLE_MIB = 120


class Timeline:
    """Cumulative acknowledgements over time (the client's view), to turn a stored count into a lag."""

    def __init__(self) -> None:
        self.times: list[float] = [0.0]
        self.acked: list[int] = [0]

    def record(self, t: float, acked: int) -> None:
        if acked > self.acked[-1]:
            self.times.append(t)
            self.acked.append(acked)

    def lag(self, now: float, stored: int) -> float:
        """Seconds since the client had `stored + 1` acknowledgements (the oldest event not stored yet was acked
        then); 0 when everything acknowledged is stored."""
        if stored >= self.acked[-1]:
            return 0.0
        i = bisect.bisect_right(self.acked, stored)
        return max(0.0, now - self.times[i])


async def soak(server: LiveServer, creds: dict[str, str], args: argparse.Namespace) -> list[dict[str, float]]:
    assert server.process is not None
    rss = load.RssSampler(server.process.pid)
    if args.protocol == "posthog":
        stream: load.Stream = load.PostHogStream(creds["project_token"])
    else:
        key = load_sentry_key(server)
        stream = load.SentryStream(creds["project_id"], key, size=args.size)
    stored = load.faultline_stored(server.url, creds["project_id"], creds["api_key"])
    timeline = Timeline()
    samples: list[dict[str, float]] = []
    seconds = args.minutes * 60
    base = await stored()
    start = time.perf_counter()

    async def sample_loop() -> None:
        while True:
            await asyncio.sleep(args.interval)
            now = time.perf_counter() - start
            count = await stored() - base
            pending = await load.faultline_queue_pending(server.url, creds["project_id"], creds["api_key"])
            sample = {
                "t": now,
                "rss_mib": rss.now_mib(),
                "queue": float(pending or 0),
                "lag_s": timeline.lag(now, count),
                "acked": float(timeline.acked[-1]),
                "stored": float(count),
            }
            samples.append(sample)
            print(
                f"  t={now:6.0f}s  RSS {sample['rss_mib']:6.1f} MiB  queue {pending or 0:6d}  "
                f"lag {sample['lag_s']:5.1f}s  acked {timeline.acked[-1]}  stored {count}",
                flush=True,
            )

    sampler = asyncio.create_task(sample_loop())
    try:
        result = await load.run_load(
            server.url,
            stream,
            label=f"soak {args.protocol}",
            events=10**9,
            seconds=seconds,
            rate=args.rate,
            on_progress=lambda t, acked: timeline.record(t, acked),
        )
    finally:
        sampler.cancel()
    print(result.line())
    return samples


def load_sentry_key(server: LiveServer) -> str:
    import re

    match = re.search(r"Sentry DSN:\s+\S+//(\w+)@", server.output())
    if not match:
        raise SystemExit("this Faultline prints no Sentry DSN")
    return match.group(1)


def summarise(samples: list[dict[str, float]], idle_mib: float, args: argparse.Namespace) -> str:
    warm_t = max(args.interval, 0.1 * args.minutes * 60)
    warm = next((s for s in samples if s["t"] >= warm_t), samples[0])
    last = samples[-1]
    drift = (last["rss_mib"] - warm["rss_mib"]) / warm["rss_mib"] * 100
    lines = [
        f"Soak: {args.protocol} at {args.rate:,.0f} events/s for {args.minutes:g} min, samples every "
        f"{args.interval:g} s (bench/soak.py).",
        "",
        f"- idle RSS before the load: {idle_mib:.0f} MiB (target < {TARGET_IDLE_MIB} MiB: "
        f"{'PASS' if idle_mib < TARGET_IDLE_MIB else 'MISS'})",
        f"- RSS after warm-up (t={warm['t']:.0f}s): {warm['rss_mib']:.1f} MiB; at the end: {last['rss_mib']:.1f} MiB; "
        f"max {max(s['rss_mib'] for s in samples):.1f} MiB",
        f"- RSS drift over the soak: {drift:+.1f} % (target < {TARGET_DRIFT_PCT:.0f} %: "
        f"{'PASS' if abs(drift) < TARGET_DRIFT_PCT else 'MISS'})",
        f"- digest lag: max {max(s['lag_s'] for s in samples):.1f} s, at the end {last['lag_s']:.1f} s; queue depth "
        f"max {max(s['queue'] for s in samples):.0f}, at the end {last['queue']:.0f}",
        f"- acknowledged {last['acked']:.0f}, stored {last['stored']:.0f} at the last sample",
        "",
    ]
    return "\n".join(lines)


def plot(samples: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] / 60 for s in samples]
    fig, (ax_rss, ax_lag) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    ax_rss.plot(t, [s["rss_mib"] for s in samples], color="tab:blue")
    ax_rss.set_ylabel("RSS (MiB)")
    ax_rss.set_title(title)
    ax_rss.grid(alpha=0.3)
    ax_lag.plot(t, [s["lag_s"] for s in samples], color="tab:red", label="digest lag (s)")
    ax_lag.set_ylabel("digest lag (s)")
    ax_lag.set_xlabel("minutes")
    ax_lag.grid(alpha=0.3)
    depth = ax_lag.twinx()
    depth.plot(t, [s["queue"] for s in samples], color="tab:gray", linestyle="--", label="queue depth")
    depth.set_ylabel("queue depth (events)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--protocol", choices=("posthog", "sentry"), default="posthog")
    parser.add_argument("--size", type=int, default=5_000, help="Sentry event bytes")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--png", type=Path, default=ROOT / "build" / "bench" / "soak.png")
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "bench" / "soak.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp) / "data")
        server.start(timeout=180)
        try:
            assert server.process is not None
            time.sleep(3)
            idle = load.RssSampler(server.process.pid).now_mib()
            samples = asyncio.run(soak(server, server.credentials(), args))
        finally:
            server.stop()
    if not samples:
        raise SystemExit("no samples: run for at least one --interval")
    text = summarise(samples, idle, args)
    print(text)
    plot(samples, args.png, f"Faultline soak: {args.protocol} at {args.rate:,.0f} events/s")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(f"plot: {args.png}; report: {args.report}")


if __name__ == "__main__":
    main()
