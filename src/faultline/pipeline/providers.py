"""Which rules provider and symbol resolver the digest runs with.

The rules (issue 6) and symbols (issue 7) domains replace the two defaults below with their implementations; the
worker, the embedded worker and the test helper all build their `Pipeline` through these functions, so that is
the only place to change.
"""

from __future__ import annotations

from faultline.config import Settings
from faultline.db import Database
from faultline.pipeline.seams import NoSymbols, RulesProvider, SymbolResolver
from faultline.rules.engine import engine_for


def rules_provider(settings: Settings, db: Database) -> RulesProvider:
    return engine_for(db)


def symbol_resolver(settings: Settings, db: Database) -> SymbolResolver:
    return NoSymbols()
