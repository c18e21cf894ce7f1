"""Assemble a Coach from settings: the one place adapters get the core from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import config_from_env
from bot.flowlang.catalog import Catalog, load_catalog
from bot.paths import flows_dir
from bot.pipeline import Coach
from bot.store import open_store


@dataclass(frozen=True)
class Settings:
    """What an operator chooses; ``config`` defaults to the COACH_* environment variables
    (country, referral, retention), read once at start-up."""

    store_url: str | None = None
    flows: Path | None = None
    config: Mapping[str, str] = field(default_factory=config_from_env)


def load_flows(flows: Path | None = None) -> Catalog:
    """Raises FlowErrors (every problem, with file and line) when the flows are broken."""
    return load_catalog([flows or flows_dir()])


def build_coach(settings: Settings, catalog: Catalog | None = None) -> Coach:
    return Coach(
        catalog or load_flows(settings.flows),
        open_store(settings.store_url),
        config=settings.config,
    )
