"""Which rules provider and symbol resolver the digest runs with.

The rules (issue 6) and symbols (issue 7) domains replace the two defaults below with their implementations; the
worker, the embedded worker and the test helper all build their `Pipeline` through these functions, so that is
the only place to change.
"""

from __future__ import annotations

from faultline.config import Settings
from faultline.db import Database
from faultline.pipeline.seams import NoRules, RulesProvider, SymbolResolver


def rules_provider(settings: Settings, db: Database) -> RulesProvider:
    return NoRules()


def symbol_resolver(settings: Settings, db: Database) -> SymbolResolver:
    from faultline.symbols.runtime import shared_runtime

    return shared_runtime(settings).resolver
