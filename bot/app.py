"""The composition root: the one place that knows every feature. It builds the registry the
flows may use, names the feature files loaded and checked with them, and assembles a Coach
for the adapters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot import plan
from bot.checkins import actions as checkin_actions
from bot.checkins.flow import CHECKIN_FLOW, CORE_STATES
from bot.checkins.texts import SERVICE as CHECKIN_TEXTS
from bot.checkins.texts import TEXTS_FILE as CHECKIN_TEXTS_FILE
from bot.checkins.texts import load_checkin_texts
from bot.coach import actions as coach_actions
from bot.coach import feedback, feedback_rules, practice
from bot.coach.coaching import COACHING_FILE, load_coaching
from bot.coach.partner import PARTNER_FILES, load_partner, service_name
from bot.config import check_config, operator_config
from bot.flowlang import builtins
from bot.flowlang.catalog import Catalog, Features, check_paths
from bot.flowlang.catalog import load_catalog as load_with
from bot.flowlang.datafiles import DataFile, compiled
from bot.flowlang.errors import FlowErrors, FlowProblem
from bot.flowlang.registry import Registry
from bot.i18n.languages import with_languages
from bot.pairing import actions as pairing_actions
from bot.pairing import together
from bot.paths import flows_dir
from bot.person_words import PERSON_WORDS_FILE, load_person_words
from bot.person_words import SERVICE as PERSON_WORDS
from bot.person_words import entries as person_words_entries
from bot.pipeline import Coach
from bot.safety import actions as safety_actions
from bot.safety import screen, screen_rules
from bot.safety.flow import SAFETY_ENTRY_STATES, SAFETY_FLOW
from bot.safety.resources import RESOURCES_FILE, load_resources
from bot.store import open_store
from bot.understanding.examples import examples_loader


def build_registry() -> Registry:
    """A fresh registry with the language's entries and every feature's."""
    registry = Registry()
    for entries in (builtins.entries, coach_actions.entries, practice.entries, plan.entries,
                    safety_actions.entries, person_words_entries, checkin_actions.entries,
                    pairing_actions.entries):
        registry.include(entries)
    return registry


def features(registry: Registry | None = None) -> Features:
    return Features(
        registry=registry or build_registry(),
        data_files=(
            DataFile("resources", RESOURCES_FILE, load_resources),
            DataFile("coaching", COACHING_FILE, load_coaching),
            DataFile(PERSON_WORDS, PERSON_WORDS_FILE, load_person_words),
            DataFile(plan.SERVICE, plan.PLAN_FILE, plan.load_plan),
            DataFile(CHECKIN_TEXTS, CHECKIN_TEXTS_FILE, load_checkin_texts),
            DataFile(together.SERVICE, together.TOGETHER_FILE, together.load_together),
            *(DataFile(service_name(role), path, load_partner)
              for role, path in PARTNER_FILES.items()),
            # The screen's and the coach's rules: the ones in the flows folder are the ones
            # that run (a folder without them runs the shipped ones).
            DataFile(screen_rules.SERVICE, Path("safety") / "screen_rules.yaml",
                     compiled(screen_rules.build_rules)),
            DataFile(feedback_rules.SERVICE, Path("coach") / "feedback_rules.yaml",
                     compiled(feedback_rules.build_rules)),
            # The learned second stages: examples beside the flows, fitted as they load.
            DataFile(screen.LEARNED, Path(screen.EXAMPLES_FILE),
                     examples_loader(screen.LABELS, "category")),
            DataFile(feedback.LEARNED, Path(feedback.EXAMPLES_FILE),
                     examples_loader(feedback_rules.VERDICTS, "verdict")),
        ),
        entry_states={SAFETY_FLOW: SAFETY_ENTRY_STATES, CHECKIN_FLOW: CORE_STATES},
    )


def check_flows(paths: Iterable[Path],
                registry: Registry | None = None) -> tuple[Catalog | None, list[FlowProblem]]:
    """Every problem in these flows (as `coach flows check` reports them), and the catalog
    when there are none; a flows folder's translations are checked and attached too."""
    paths = list(paths)
    offered = features(registry)
    catalog, problems = check_paths(paths, offered)
    if catalog is not None:
        problems = with_languages(catalog, _folder(paths), offered)
    return (catalog if not problems else None), problems


def load_catalog(paths: Iterable[Path], registry: Registry | None = None) -> Catalog:
    """Raises FlowErrors (every problem, with file and line) when the flows are broken."""
    paths = list(paths)
    offered = features(registry)
    catalog = load_with(paths, offered)
    problems = with_languages(catalog, _folder(paths), offered)
    if problems:
        raise FlowErrors(problems)
    return catalog


def _folder(paths: list[Path]) -> Path | None:
    """The flows folder whose translations go with these flows: the one folder given."""
    folders = [p for p in paths if p.is_dir()]
    return folders[0] if len(folders) == 1 else None


@dataclass(frozen=True)
class Settings:
    """What an operator chooses; ``config`` defaults to the COACH_* environment variables
    (country, referral, retention), read once at start-up."""

    store_url: str | None = None
    flows: Path | None = None
    config: Mapping[str, str] = field(default_factory=operator_config)


def load_flows(flows: Path | None = None) -> Catalog:
    """The operator's flows (or the shipped ones)."""
    return load_catalog([flows or flows_dir()])


def build_coach(settings: Settings, catalog: Catalog | None = None) -> Coach:
    """Raises SettingError for a setting that cannot work, before the store is opened."""
    catalog = catalog or load_flows(settings.flows)
    resources = catalog.services.get("resources")
    check_config(settings.config, resources.regions if resources is not None else ())
    return Coach(
        catalog,
        open_store(settings.store_url),
        config=settings.config,
    )
