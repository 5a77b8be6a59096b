"""Which rules provider and symbol resolver the digest runs with.

The worker, the embedded worker and the test helper all build their `Pipeline` through these functions, so this
is the one place that decides which rules engine and symbol resolver run (tests may pass their own).
"""

from __future__ import annotations

from faultline.config import Settings
from faultline.db import Database
from faultline.pipeline.seams import RulesProvider, SymbolResolver
from faultline.rules.engine import engine_for


def rules_provider(settings: Settings, db: Database) -> RulesProvider:
    return engine_for(db)


def symbol_resolver(settings: Settings, db: Database) -> SymbolResolver:
    from faultline.symbols.runtime import shared_runtime

    return shared_runtime(settings).resolver
