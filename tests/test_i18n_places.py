"""bot/i18n/places.py: which YAML values are sentences, and their stable ids."""

from __future__ import annotations

from bot.flowlang.source import parse_source
from bot.i18n.places import ctxt_of, is_text, is_text_file, overlay, places

FLOW = """\
id: talk
title: Step 1
start: opener
states:
  opener:
    say: "I've noticed ${behavior}."
    choices:
      - {label: Yes, set: {role: hurt}, to: next}
      - {label: "No", to: next}
    ask: {slot: opener, skip: Skip this one}
  next:
    say: [One, Two]
"""


def test_flow_sentences_and_their_ids() -> None:
    doc, problems = parse_source(FLOW, "talk.yaml")
    assert doc is not None and not problems
    found = [(p.ctxt, p.text, p.line) for p in places("talk.yaml", doc)]
    assert found == [
        ("talk.title", "Step 1", 2),
        ("talk.opener.say", "I've noticed ${behavior}.", 6),
        ("talk.opener.choices.0", "Yes", 8),
        ("talk.opener.choices.1", "No", 9),
        ("talk.opener.skip", "Skip this one", 10),
        ("talk.next.say.0", "One", 12),
        ("talk.next.say.1", "Two", 12),
    ]


def test_data_file_ids_and_what_is_not_text() -> None:
    assert ctxt_of("core/messages.yaml", ("help",)) == "core.help"
    assert ctxt_of("safety/resources.yaml", ("regions", "gb", "general", 1)) == (
        "safety.resources.regions.gb.general.1")
    assert is_text("coach/coaching.yaml", ("roleplay", "tips", "steady"))
    assert not is_text("coach/coaching.yaml", ("roleplay", "moves", "short", 0))
    assert not is_text("talk.yaml", ("states", "opener", "choices", 0, "set", "role"))
    assert is_text_file("menu.yaml") and not is_text_file("safety/screen_rules.yaml")
    assert not is_text_file("core/person_words.yaml")


def test_overlay_replaces_sentences_only() -> None:
    doc, _ = parse_source(FLOW, "talk.yaml")
    assert doc is not None
    data = overlay("talk.yaml", doc.data, lambda ctxt, text: f"<{ctxt}>")
    opener = data["states"]["opener"]
    assert opener["say"] == "<talk.opener.say>"
    assert opener["choices"][0] == {"label": "<talk.opener.choices.0>", "set": {"role": "hurt"},
                                    "to": "next"}
    assert opener["ask"]["slot"] == "opener" and data["id"] == "talk"
    assert doc.data["states"]["opener"]["say"] == "I've noticed ${behavior}."  # a copy


WORDS_FLOW = """\
id: talk
title: Step 1
start: feeling
words: [feeling]
states:
  feeling:
    say: How does it feel?
    ask: {slot: feeling, strip_prefix: ["I feel"]}
    choices:
      - {label: hurt, set: {feeling: hurt, role: hurt}, to: next}
    next:
      - {to: next, if: {slot_mentions: {feeling: [scared, afraid]}}}
  next:
    say: Done
"""


def test_the_persons_words_and_the_words_people_type_are_translated_logic_is_not() -> None:
    doc, problems = parse_source(WORDS_FLOW, "talk.yaml")
    assert doc is not None and not problems
    found = [p.ctxt for p in places("talk.yaml", doc)]
    assert "talk.feeling.choices.0.set.feeling" in found  # listed under `words:`
    assert "talk.feeling.choices.0.set.role" not in found  # decided by: never translated
    assert "talk.feeling.ask.strip_prefix.0" in found
    assert "talk.feeling.next.0.if.slot_mentions.feeling.1" in found


def test_a_word_list_entry_may_become_several_words_a_sentence_may_not() -> None:
    doc, _ = parse_source(WORDS_FLOW, "talk.yaml")
    assert doc is not None
    spanish = {"talk.feeling.next.0.if.slot_mentions.feeling.0": "miedo | asustad",
               "talk.feeling.choices.0.set.feeling": "dolido/a | herido/a"}
    data = overlay("talk.yaml", doc.data, lambda ctxt, text: spanish.get(ctxt, text))
    state = data["states"]["feeling"]
    assert state["next"][0]["if"]["slot_mentions"]["feeling"] == ["miedo", "asustad", "afraid"]
    assert state["choices"][0]["set"] == {"feeling": "dolido/a | herido/a", "role": "hurt"}


def test_labels_an_action_puts_in_a_message_and_the_check_in_wording_are_text() -> None:
    assert is_text("boundaries.yaml", ("states", "share", "do", 0, "compose_answers",
                                       "boundary_flirting"))
    assert ctxt_of("boundaries.yaml", ("states", "share", "do", 0, "compose_answers",
                                       "boundary_flirting")) == (
        "boundaries.share.do.0.compose_answers.boundary_flirting")
    assert not is_text("boundaries.yaml", ("states", "share", "do", 0, "clear_slots"))
    assert is_text("coach/checkins.yaml", ("weekdays", 0))
    assert is_text("coach/checkins.yaml", ("when_weekly",))
    assert not is_text("coach/checkins.yaml", ("default_quiet",))
