"""Stage one: turn one YAML document into a FlowSpec, reporting shape problems with lines."""

from __future__ import annotations

import re
from typing import Any

from bot.flowlang.errors import FlowProblem, did_you_mean
from bot.flowlang.model import (
    AskSpec,
    Call,
    ChoiceSpec,
    FlowSpec,
    Route,
    StateSpec,
    Target,
    map_id,
)
from bot.flowlang.source import PathKey, SourceDoc
from bot.setting import CONTEXTS

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FLOW_KEYS = ("id", "title", "start", "states", "description", "menu_button", "context",
             "words")
STATE_KEYS = ("say", "do", "choices", "ask", "next", "context", "on_text")
TARGET_KEYS = ("to", "flow", "at", "call", "then", "return", "resume")
ROUTE_KEYS = (*TARGET_KEYS, "if", "unless", "set", "do")
CHOICE_KEYS = ("label", *ROUTE_KEYS)
ASK_KEYS = ("slot", "max_length", "min_length", "skip", "strip_prefix", "address")
MAX_PREFIXES = 20
MAX_TEXT_LENGTH = 4000
MAX_LABEL = 60


class FlowParser:
    """Collects every problem of one document instead of stopping at the first."""

    def __init__(self, doc: SourceDoc) -> None:
        self.doc = doc
        self.problems: list[FlowProblem] = []

    def fail(self, at: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(at, message, key=key,
                                              node=node_at(self.doc, at)))

    def parse(self) -> FlowSpec | None:
        data = self.doc.data
        if not isinstance(data, dict):
            self.fail((), "a flow file must be a mapping with id, title, start and states")
            return None
        self._unknown_keys(data, (), FLOW_KEYS, "flow")
        flow_id = self._name(data, ("id",), "id")
        title = self._text(data, ("title",), required=True)
        start = self._name(data, ("start",), "start state")
        description = self._text(data, ("description",), required=False)
        menu_button = data.get("menu_button", True)
        if not isinstance(menu_button, bool):
            self.fail(("menu_button",), "'menu_button' must be true or false")
            menu_button = True
        context = self._context(data, ())
        words = self._words(data)
        raw_states = data.get("states")
        states: dict[str, StateSpec] = {}
        if not isinstance(raw_states, dict) or not raw_states:
            self.fail(("states",) if "states" in data else (),
                      "'states' must be a mapping of state names to states")
        else:
            for name, raw in raw_states.items():
                state = self._state(str(name), raw, ("states", name))
                if state is not None:
                    states[state.name] = state
        self._words_are_set(words, states)
        if flow_id is None or title is None or start is None:
            return None
        return FlowSpec(flow_id, title, start, states, self.doc.path, description or "",
                        menu_button=menu_button, context=context or "chat")

    # -- pieces ---------------------------------------------------------------------------

    def _words(self, data: dict) -> tuple[str, ...]:
        """Slots whose `set:` values are the person's words, translated with the flow."""
        value = data.get("words", [])
        if not isinstance(value, list) or not all(
                isinstance(w, str) and NAME.match(w) for w in value):
            self.fail(("words",), "'words' must list slot names whose button values are the "
                                  "person's words (translated with the flow), e.g. [feeling]")
            return ()
        return tuple(value)

    def _words_are_set(self, words: tuple[str, ...], states: dict[str, StateSpec]) -> None:
        set_here = {slot for state in states.values() for choice in state.choices
                    for slot, _value in choice.route.sets}
        for index, slot in enumerate(words):
            if slot not in set_here:
                self.fail(("words", index), f"'words' names '{slot}', which no button in "
                                            "this flow sets")

    def _context(self, data: dict, at: PathKey) -> str | None:
        """Where text typed here is written, for the screen and the coach."""
        value = data.get("context")
        if value is None:
            return None
        if value not in CONTEXTS:
            self.fail((*at, "context"), f"'context' must be one of: {', '.join(CONTEXTS)}"
                      f"{did_you_mean(str(value), CONTEXTS)}")
            return None
        return str(value)

    def _unknown_keys(self, data: dict, at: PathKey, allowed: tuple[str, ...], what: str) -> None:
        for key in data:
            if key not in allowed:
                self.fail((*at, key), f"unknown key '{key}' in {what}"
                          f"{did_you_mean(str(key), allowed)}", key=True)

    def _name(self, data: dict, at: PathKey, what: str) -> str | None:
        value = data.get(at[-1])
        if value is None:
            self.fail(at[:-1], f"missing '{at[-1]}' ({what})")
            return None
        if not isinstance(value, str) or not NAME.match(value):
            self.fail(at, f"{what} '{value}' must be lower-case letters, digits and _ "
                          "(starting with a letter)")
            return None
        return value

    def _text(self, data: dict, at: PathKey, *, required: bool) -> str | None:
        value = data.get(at[-1])
        if value is None:
            if required:
                self.fail(at[:-1], f"missing '{at[-1]}'")
            return None
        if not _is_text(value):
            self.fail(at, f"'{at[-1]}' must be non-empty text")
            return None
        text = str(value).strip()
        if len(text) > MAX_TEXT_LENGTH:
            self.fail(at, f"'{at[-1]}' is {len(text)} characters; keep it under {MAX_TEXT_LENGTH}")
        return text

    def _state(self, name: str, raw: Any, at: PathKey) -> StateSpec | None:
        if not NAME.match(name):
            self.fail(at, f"state name '{name}' must be lower-case letters, digits and _", key=True)
        if not isinstance(raw, dict):
            self.fail(at, f"state '{name}' must be a mapping (say, choices, ask, next, do)")
            return None
        self._unknown_keys(raw, at, STATE_KEYS, f"state '{name}'")
        say = self._say(raw.get("say"), (*at, "say"))
        actions = self._calls(raw.get("do"), (*at, "do"), negate=False) if "do" in raw else ()
        choices: list[ChoiceSpec] = []
        raw_choices = raw.get("choices")
        if raw_choices is not None:
            if not isinstance(raw_choices, list) or not raw_choices:
                self.fail((*at, "choices"), "'choices' must be a non-empty list")
            else:
                for index, item in enumerate(raw_choices):
                    choice = self._choice(item, (*at, "choices", index))
                    # A broken choice keeps its place, so later ones keep their lines.
                    choices.append(choice or ChoiceSpec("", Route(Target("return"))))
        ask = self._ask(raw["ask"], (*at, "ask")) if "ask" in raw else None
        routes = self._routes(raw["next"], (*at, "next")) if "next" in raw else ()
        on_text = self._on_text(raw, at, ask, choices)
        return StateSpec(name, say, actions, tuple(choices), ask, routes,
                         self._context(raw, at), on_text)

    def _on_text(self, raw: dict, at: PathKey, ask: AskSpec | None,
                 choices: list[ChoiceSpec]) -> AskSpec | None:
        """`on_text`: at a step with buttons, typed text that is no button is kept like an
        ask's answer and follows `next` (instead of "please pick one of the options")."""
        if "on_text" not in raw:
            return None
        where = (*at, "on_text")
        spec = self._ask(raw["on_text"], where)
        if spec is None:
            return None
        if "ask" in raw or ask is not None:
            self.fail(where, "'on_text' is for a state with buttons and no 'ask' (an ask "
                             "already keeps typed text)", key=True)
        elif not choices:
            self.fail(where, "'on_text' needs 'choices': it says where text typed instead "
                             "of a button goes", key=True)
        elif spec.skip_label:
            self.fail((*where, "skip"), "'skip' goes with 'ask', not 'on_text'", key=True)
        return spec

    def _say(self, raw: Any, at: PathKey) -> tuple[str, ...]:
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out: list[str] = []
        for index, item in enumerate(items):
            where = (*at, index) if isinstance(raw, list) else at
            if not _is_text(item):
                self.fail(where, "each 'say' message must be non-empty text")
                out.append("")  # keeps later messages at their own index (and line)
                continue
            if len(str(item)) > MAX_TEXT_LENGTH:
                self.fail(where, f"message is {len(str(item))} characters; keep it under "
                                 f"{MAX_TEXT_LENGTH} (one idea per message)")
            out.append(str(item).strip())
        return tuple(out)

    def _choice(self, raw: Any, at: PathKey) -> ChoiceSpec | None:
        if not isinstance(raw, dict):
            self.fail(at, "a choice must be a mapping with 'label' and where it goes "
                          "(to, flow, call, return or resume)")
            return None
        self._unknown_keys(raw, at, CHOICE_KEYS, "choice")
        label = self._text(raw, (*at, "label"), required=True)
        if label and len(label) > MAX_LABEL:
            self.fail((*at, "label"), f"button label is {len(label)} characters; keep it to "
                                      f"{MAX_LABEL} or fewer")
        route = self._route_body(raw, at)
        if label is None or route is None:
            return None
        return ChoiceSpec(label, route)

    def _routes(self, raw: Any, at: PathKey) -> tuple[Route, ...]:
        if isinstance(raw, str):
            return (Route(Target("state", state=raw)),) if self._state_ref(raw, at) else ()
        items = raw if isinstance(raw, list) else [raw]
        routes: list[Route] = []
        for index, item in enumerate(items):
            where = (*at, index) if isinstance(raw, list) else at
            placeholder = Route(Target("return"))  # keeps later routes at their own index
            if isinstance(item, str):
                ok = self._state_ref(item, where)
                routes.append(Route(Target("state", state=item)) if ok else placeholder)
                continue
            if not isinstance(item, dict):
                self.fail(where, "'next' must be a state name, a route mapping or a list of them")
                routes.append(placeholder)
                continue
            self._unknown_keys(item, where, ROUTE_KEYS, "route")
            routes.append(self._route_body(item, where) or placeholder)
        if not items:
            self.fail(at, "'next' must name at least one route")
        return tuple(routes)

    def _state_ref(self, name: str, at: PathKey) -> bool:
        if not NAME.match(name):
            self.fail(at, f"'{name}' is not a valid state name")
            return False
        return True

    def _route_body(self, raw: dict, at: PathKey) -> Route | None:
        target = self._target(raw, at)
        when = self._calls(raw.get("if"), (*at, "if"), negate=False) if "if" in raw else ()
        if "unless" in raw:
            when = (*when, *self._calls(raw["unless"], (*at, "unless"), negate=True))
        actions = self._calls(raw.get("do"), (*at, "do"), negate=False) if "do" in raw else ()
        sets: list[tuple[str, str]] = []
        if "set" in raw:
            value = raw["set"]
            if not isinstance(value, dict) or not value:
                self.fail((*at, "set"), "'set' must map slot names to values")
            else:
                for slot, text in value.items():
                    if not NAME.match(str(slot)):
                        self.fail((*at, "set", slot), f"'{slot}' is not a valid slot name",
                                  key=True)
                    elif isinstance(text, dict | list) or text is None:
                        self.fail((*at, "set", slot), f"value for '{slot}' must be text")
                    else:
                        sets.append((str(slot), str(text)))
        if target is None:
            return None
        return Route(target, when, actions, tuple(sets))

    def _target(self, raw: dict, at: PathKey) -> Target | None:
        given = [k for k in ("to", "flow", "call", "return", "resume") if k in raw]
        if len(given) != 1:
            if not given:
                self.fail(at, "say where this leads: one of 'to' (a state), 'flow', 'call', "
                              "'return: true' or 'resume: true'")
            else:
                self.fail(at, f"only one of {', '.join(given)} may be given")
            return None
        kind = given[0]
        value = raw[kind]
        for extra, owner in (("at", "flow"), ("then", "call")):
            if extra in raw and kind != owner:
                self.fail((*at, extra), f"'{extra}' only goes with '{owner}'", key=True)
        if kind in ("return", "resume"):
            if value is not True:
                self.fail((*at, kind), f"write '{kind}: true'")
                return None
            return Target(kind)
        if not isinstance(value, str) or not NAME.match(value):
            self.fail((*at, kind), f"'{kind}' must name a {'state' if kind == 'to' else 'flow'}")
            return None
        if kind == "to":
            return Target("state", state=value)
        if kind == "flow":
            state = raw.get("at")
            if state is not None and (not isinstance(state, str) or not NAME.match(state)):
                self.fail((*at, "at"), "'at' must name a state of that flow")
                return None
            return Target("flow", state=state, flow=value)
        then = raw.get("then")
        if not isinstance(then, str) or not NAME.match(then):
            self.fail((*at, "then") if "then" in raw else (*at, "call"),
                      "'call' needs 'then': the state of this flow to come back to")
            return None
        return Target("call", state=then, flow=value)

    def _calls(self, raw: Any, at: PathKey, *, negate: bool) -> tuple[Call, ...]:
        items = raw if isinstance(raw, list) else [raw]
        calls: list[Call] = []
        for index, item in enumerate(items):
            where = (*at, index) if isinstance(raw, list) else at
            if isinstance(item, str):
                calls.append(Call(item, None, negate))
            elif isinstance(item, dict) and item:
                for name, arg in item.items():
                    calls.append(Call(str(name), arg, negate))
            else:
                self.fail(where, "write a name, or a mapping of name to its argument")
        return tuple(calls)

    def _ask(self, raw: Any, at: PathKey) -> AskSpec | None:
        if isinstance(raw, str):
            raw = {"slot": raw}
        if not isinstance(raw, dict):
            self.fail(at, "'ask' must be a mapping with at least 'slot'")
            return None
        self._unknown_keys(raw, at, ASK_KEYS, "ask")
        slot = self._name(raw, (*at, "slot"), "slot")
        limits = {}
        for key, default in (("max_length", 1000), ("min_length", 1)):
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4000:
                self.fail((*at, key), f"'{key}' must be a whole number from 1 to 4000")
                value = default
            limits[key] = value
        if limits["min_length"] > limits["max_length"]:
            self.fail((*at, "min_length"), "'min_length' is larger than 'max_length'")
        skip = self._text(raw, (*at, "skip"), required=False) if "skip" in raw else None
        prefixes = self._prefixes(raw["strip_prefix"], (*at, "strip_prefix")) if (
            "strip_prefix" in raw) else ()
        address = raw.get("address")
        if address is not None and (not isinstance(address, str) or not NAME.match(address)):
            self.fail((*at, "address"), "'address' must name who the answer is said to, "
                                        "such as 'partner'")
            address = None
        if slot is None:
            return None
        return AskSpec(slot, limits["max_length"], limits["min_length"], skip, prefixes,
                       address)

    def _prefixes(self, raw: Any, at: PathKey) -> tuple[str, ...]:
        items = raw if isinstance(raw, list) else [raw]
        if not items or len(items) > MAX_PREFIXES or not all(
                isinstance(item, str) and item.strip() for item in items):
            self.fail(at, "'strip_prefix' must be a phrase or a list of up to "
                          f"{MAX_PREFIXES} phrases, such as [\"I feel\", \"I'm feeling\"]")
            return ()
        return tuple(item.strip() for item in items)


def _is_text(value: Any) -> bool:
    """YAML turns `Yes` into True and `12` into 12; only real words count as text."""
    return isinstance(value, str | int | float) and not isinstance(value, bool) and bool(
        str(value).strip())


def node_at(doc: SourceDoc, at: PathKey) -> str:
    """The map id (`talk.opener`) of the state a problem at `at` is in, or "" when it is
    about no state (or the flow's id is not usable)."""
    data = doc.data
    if len(at) < 2 or at[0] != "states" or not isinstance(data, dict):
        return ""
    flow_id, states = data.get("id"), data.get("states")
    if not isinstance(flow_id, str) or not NAME.match(flow_id) or not isinstance(
            states, dict) or at[1] not in states:
        return ""
    return map_id(flow_id, str(at[1]))


def parse_flow(doc: SourceDoc) -> tuple[FlowSpec | None, list[FlowProblem]]:
    parser = FlowParser(doc)
    flow = parser.parse()
    return flow, parser.problems
