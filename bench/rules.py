"""Rules and remote config: what one event / one SDK page load costs.

1. Rule evaluation per event (20 mixed suppression rules + 5 grouping rules, no match so every rule runs),
   compiled once per cache load vs. the baseline of compiling filters for every event.
2. A pathological regex, `(a+)+$`, on RE2 (what rules use) vs. Python's backtracking `re`.
3. `RulesEngine.for_project` per digest batch (revision check, cache hit) vs. a reload on every batch.
4. Remote config per SDK request: cached lookup (one indexed query) vs. rebuilding the config every time.

Run: .venv/bin/python bench/rules.py
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import re2

from faultline import migrate
from faultline.accounts import service as accounts
from faultline.autocapture.remote_config import RemoteConfigCache, build_config
from faultline.db import Database
from faultline.rules import service as rules
from faultline.rules.engine import RulesEngine, load_project_rules
from faultline.rules.filters import compile_filters


def leaf(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"key": key, "type": "event", "operator": operator, "value": value}


def rule_set() -> list[dict[str, Any]]:
    shapes = [
        leaf("$exception_types", "exact", ["ResizeObserverError", "ChunkLoadError"]),
        leaf("$exception_values", "icontains", "script error"),
        leaf("$exception_values", "regex", r"^Non-Error promise rejection captured with value: \w+$"),
        leaf("$exception_sources", "not_icontains", "node_modules"),
        leaf("$lib_version", "semver_lt", "1.100.0"),
    ]
    filters = []
    for i in range(20):
        base = dict(shapes[i % len(shapes)])
        filters.append({"type": "AND", "values": [base, leaf("$browser", "exact", f"Browser {i}")]})
    return filters


EVENT = {
    "$exception_types": ["TypeError", "Error"],
    "$exception_values": ["Cannot read properties of undefined (reading 'id')", "wrapped"],
    "$exception_sources": ["src/checkout/cart.ts", "src/app.ts"],
    "$exception_functions": ["loadCart", "main"],
    "$lib_version": "1.449.2",
    "$browser": "Chrome",
    "$current_url": "https://shop.example.com/checkout",
}


def per_event(label: str, fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    elapsed = time.perf_counter() - start
    per = elapsed / n * 1e6
    print(f"  {label:<58} {per:9.2f} µs/op  ({n / elapsed:,.0f} ops/s)")
    return per


def bench_evaluation() -> None:
    print("1. rule evaluation per event (20 rules, none matching)")
    filters = rule_set()
    compiled = [compile_filters(f) for f in filters]
    n = 20_000
    fast = per_event("compiled once (what the engine does)", lambda: any(p(EVENT, None) for p in compiled), n)
    slow = per_event(
        "baseline: compile per event", lambda: any(compile_filters(f)(EVENT, None) for f in filters), n // 10
    )
    print(f"  ratio baseline / compiled: {slow / fast:.1f}x")


def bench_regex() -> None:
    print("2. pathological regex (a+)+$ on 'a' * n + '!'")
    rx2, rx = re2.compile("(a+)+$"), re.compile("(a+)+$")
    for size in (18, 20, 22):
        text = "a" * size + "!"
        start = time.perf_counter()
        rx.search(text)
        backtracking = time.perf_counter() - start
        start = time.perf_counter()
        rx2.search(text)
        linear = time.perf_counter() - start
        ratio = backtracking / linear
        print(f"  n={size}: Python re {backtracking * 1e3:9.1f} ms   RE2 {linear * 1e6:7.1f} µs   ratio {ratio:,.0f}x")
    text = "a" * 1_000_000 + "!"
    start = time.perf_counter()
    rx2.search(text)
    print(f"  n=1,000,000 on RE2: {(time.perf_counter() - start) * 1e3:.1f} ms (Python re: would not finish)")


def seeded_database(tmp: Path) -> tuple[Database, Any]:
    db = Database(f"sqlite:///{tmp}/bench.db")
    migrate.upgrade(db.engine)
    with db.write() as session:
        org = accounts.create_organization(session, "Bench")
        project = accounts.create_project(session, org, "web")
        for filters in rule_set():
            rules.create_suppression_rule(session, project.id, filters=filters, sampling_rate=1.0)
        accounts.create_user(session, "bench@example.com", password=None, organization=org)
    return db, project


def bench_engine(db: Database, project: Any) -> None:
    print("3. RulesEngine.for_project per digest batch (SQLite)")
    engine = RulesEngine()
    with db.write() as session:
        engine.for_project(session, project.id)
        hit = per_event("cache hit (revision check only)", lambda: engine.for_project(session, project.id), 2_000)
        miss = per_event(
            "baseline: reload + compile every batch", lambda: load_project_rules(session, project.id, 0), 500
        )
    print(f"  ratio baseline / cached: {miss / hit:.1f}x")
    with db.write() as session:
        bound = engine.for_project(session, project.id)
        ids = [uuid.uuid4() for _ in range(20_000)]
        it = iter(ids)
        per_event("suppression() per event through the engine", lambda: bound.suppression(EVENT, next(it)), 20_000)


def bench_remote_config(db: Database, project: Any) -> None:
    print("4. remote config per SDK request (SQLite)")
    cache = RemoteConfigCache()
    token = project.api_token
    with db.read() as session:
        cache.get(session, token)
        hit = per_event("cached (token + revision lookup)", lambda: cache.get(session, token), 2_000)

        def rebuild() -> None:
            key = cache.project_key(session, token)
            assert key is not None
            build_config(session, token, key)

        miss = per_event("baseline: rebuild the config every request", rebuild, 500)
    print(f"  ratio baseline / cached: {miss / hit:.1f}x")


def main() -> None:
    bench_evaluation()
    bench_regex()
    with tempfile.TemporaryDirectory() as tmp:
        db, project = seeded_database(Path(tmp))
        try:
            bench_engine(db, project)
            bench_remote_config(db, project)
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
