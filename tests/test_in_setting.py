"""What the setting changes about a flag: consented openness, harm long past and now safe, and
deflections rehearsed to the partner are not risks by themselves; it never raises a flag."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.safety.screen import screen
from bot.safety.screen_rules import build_rules, load_rules
from bot.setting import Setting
from bot.yamlfile import safe_data
from tests.conftest import REPO

STORY_HURT = Setting("hurt", "story")
STORY_CROSSED = Setting("crossed", "story")
REHEARSAL_CROSSED = Setting("crossed", "rehearsal")
REHEARSAL_HURT = Setting("hurt", "rehearsal")


@pytest.mark.parametrize(("text", "setting", "risk", "because"), [
    ("She reads my messages since she found out, I told her she could", STORY_CROSSED,
     "none", "consented_openness"),
    ("he tracks my location on his phone, we both agreed to it after the affair",
     STORY_HURT, "none", "consented_openness"),
    ("he hit me once years ago, we divorced and I'm safe now", STORY_HURT, "none",
     "past_and_safe_now"),
    ("my ex used to check my phone every night", STORY_HURT, "unsure", "past_only"),
    ("you also go through my phone", REHEARSAL_CROSSED, "none", "rehearsed_deflection"),
    ("you also go through my phone", REHEARSAL_HURT, "unsure", "spoken_to_partner"),
    ("She asked if she could check my phone for a month and I said yes", STORY_CROSSED,
     "none", "consented_openness"),
    ("he wanted to go through my phone and I said go ahead, I've got nothing to hide",
     STORY_CROSSED, "none", "consented_openness"),
    ("how do I respond when she says you go through my phone too?", STORY_HURT, "none",
     "answering_their_words"),
    ("she got really angry when I told her, which I deserved. Then we talked till 2am",
     STORY_CROSSED, "none", "anger_that_passed"),
    ("you went through my phone too, so don't act like a saint", REHEARSAL_HURT, "none",
     "tit_for_tat"),
    ("my first husband hit me. my current partner would never, he's just secretive",
     STORY_HURT, "none", "past_and_safe_now"),
    ("you read my emails without asking, so maybe we both have things to own",
     REHEARSAL_HURT, "none", "tit_for_tat"),
    ("you're the one who checks my phone while I sleep, remember?", REHEARSAL_CROSSED,
     "none", "tit_for_tat"),
    ("she said she'd strangle me, then burst into tears, and we talked", STORY_CROSSED,
     "none", "threat_told_as_joke"),
    ("he punched a wall when he was 17, long before me. he's the gentlest man", STORY_HURT,
     "none", "past_and_safe_now"),
    ("I'm going to end it, the relationship I mean, I'm fine in myself", STORY_HURT, "none",
     "meant_the_relationship"),
    ("I've offered him my phone whenever he wants, it's his call", STORY_CROSSED, "none",
     "consented_openness"),
    ("he'd murder me if he knew I used his Netflix 😂", STORY_CROSSED, "none",
     "everyday_hyperbole"),
    ("she's gonna end me for missing her birthday dinner lol", STORY_CROSSED,
     "none", "everyday_hyperbole"),
    ("my gran said she'd break his nose for me. she's 88 and all talk, love her", STORY_HURT,
     "none", "family_bluster"),
    ("she said 'go on then, read my messages' and held it out to me", STORY_HURT, "none",
     "offered_their_own_phone"),
    ("my ex boyfriend broke my arm in 2011. that's long over, he moved abroad", STORY_HURT,
     "none", "past_and_safe_now"),
    ("she screamed at me when she saw the chats. she had every right to", STORY_CROSSED, "none",
     "anger_that_passed"),
    ("you went through my messages last summer and I never made a fuss about it",
     REHEARSAL_HURT, "none", "tit_for_tat"),
    ("a few years back my ex followed me home from work. i moved cities, i'm safe now",
     STORY_HURT, "none", "past_and_safe_now"),
])
def test_the_setting_lowers_a_flag_it_explains(text: str, setting: Setting, risk: str,
                                                because: str) -> None:
    words_alone = replace(load_rules(), in_setting=())
    assert screen(text, words_alone, setting).is_flagged, "the words alone are flagged"
    result = screen(text, None, setting)
    assert result.risk == risk and result.rule.startswith(f"{because}:")


@pytest.mark.parametrize(("text", "setting"), [
    ("he checks my phone every night", STORY_HURT),
    ("he checks my phone every night", REHEARSAL_HURT),
    ("he hit me last night when I asked about her", STORY_HURT),
    ("you hit me last night", REHEARSAL_CROSSED),  # a deflection marker alone is not enough
    ("my ex hit me and he still comes round at night", STORY_HURT),
    ("I want to kill myself, I told her she could have my phone", STORY_CROSSED),
    # consent given under pressure, or taken back, is no consent
    ("I said fine, because I felt guilty. But now he checks my phone every night",
     STORY_CROSSED),
    ("she checks my phone every night. she says i agreed but i was crying", STORY_CROSSED),
    ("how do I answer him? he checks my phone every night and won't let me go out",
     STORY_HURT),
    # anger with anything physical, fear or a pattern in it has not passed
    ("he got so angry and then apologised, but I froze, I was scared", STORY_HURT),
    ("he gets really angry when I bring it up, then says sorry, every time", STORY_HURT),
    # hyperbole with fear, or words he said, is no hyperbole
    ("he's going to kill me when he finds out I told you lol. I'm scared", STORY_HURT),
    ("he said he's going to kill me when he gets home lol", STORY_HURT),
    ("if I tell him the truth about the guy from work he'll kill me. literally. not lol",
     STORY_HURT),
    # bluster that was acted on, or comes with a weapon
    ("my brother said he'd break his legs and he's got a knife in the car, love him",
     STORY_HURT),
    # the partner taking a phone is not their offer
    ("she said check my phone then took mine and changed my passwords", STORY_HURT),
    ("he said 'go through my phone then', then grabbed mine and wouldn't give it back",
     STORY_HURT),
    # not scary, but...
    ("he got angry. he's not a violent man but he slammed the car door on my leg", STORY_HURT),
    ("my first husband hit me in 2009. I remarried last year and my new wife threw a pan at me",
     STORY_HURT),
    # the ex the story is about (texted, met, liked) is no past of harm; safety hedged is
    # not safety told
    ("he found out i'd gone for coffee with my ex and slapped me. we're fine now", STORY_HURT),
    ("he slapped me years ago. i'm ok now i think", STORY_HURT),
    ("since i liked my ex's photo he pushed me down the stairs. we're fine now", STORY_HURT),
    ("she screamed when she saw i'd texted my ex, which fair enough, but then she dragged me "
     "down the road hanging off the car door", STORY_CROSSED),
])
def test_the_setting_leaves_real_risks_flagged(text: str, setting: Setting) -> None:
    assert screen(text, None, setting).risk == screen(text).risk != "none"


@pytest.mark.parametrize("setting", [REHEARSAL_HURT, REHEARSAL_CROSSED])
def test_a_deflection_beside_control_is_not_set_aside(setting: Setting) -> None:
    text = "you go through my phone too, so don't act like a saint. and you won't let me out"
    result = screen(text, None, setting)
    assert result.is_flagged and not result.rule.startswith(("tit_for_tat",
                                                             "rehearsed_deflection")), result


def test_the_setting_never_raises_a_flag() -> None:
    for context in ("rehearsal", "practice", "story"):
        assert not screen("can we talk tonight?", None, Setting("crossed", context)).is_flagged


def test_an_unknown_context_in_the_rules_is_refused() -> None:
    data = safe_data((REPO / "flows" / "safety" / "screen_rules.yaml").read_text())
    data["in_setting"][0]["contexts"] = ["rehersal"]
    with pytest.raises(ValueError, match="unknown rehersal"):
        build_rules(data)
    data["in_setting"][0]["contexts"] = []
    data["in_setting"][0]["becomes"] = "risk"
    with pytest.raises(ValueError, match="'becomes' must be none or unsure"):
        build_rules(data)


def test_the_shipped_rules_have_setting_entries() -> None:
    assert {rule.id for rule in load_rules().in_setting} >= {
        "consented_openness", "past_and_safe_now", "rehearsed_deflection"}


def test_openness_the_person_offers_is_not_control() -> None:
    from bot.safety.screen import shipped_learned

    text, setting = "I told her she can check my phone whenever she wants", Setting(
        "crossed", "boundary")
    words_alone = replace(load_rules(), in_setting=())
    assert screen(text, words_alone, setting, shipped_learned()).is_flagged
    result = screen(text, None, setting, shipped_learned())
    assert not result.is_flagged and result.rule.startswith("consented_openness:")
    offered = "I will share my location with you when I'm out late"
    assert not screen(offered, None, setting, shipped_learned()).is_flagged


@pytest.mark.parametrize("text", [
    "I'll tell you what happens: he reads all my messages and won't let me see my friends",
    "he takes my phone every night and won't let me leave the house, I don't mind anymore",
    "we agreed I'd stay home because he says I can't go out without him",
    "He used to be sweet, not anymore. He hit me last night.",
    "my ex says he will kill me if I talk to anyone",
])
def test_harm_happening_now_is_never_explained_away(text: str) -> None:
    for setting in (STORY_HURT, STORY_CROSSED, Setting()):
        assert screen(text, None, setting).risk == "risk", setting


def test_a_strong_learned_reading_stands_against_the_setting() -> None:
    """A learned stage whose examples call watching a partner's phone control flags a story
    that tells of it; an entry whose few words fit lowers that flag, unless it reads as a
    risk by the `overrule` lead, which no few words of setting outweigh. An entry may say
    otherwise (`strong_learned_stands: false`)."""
    from bot.safety.in_setting import SettingRule
    from bot.safety.screen import LABELS, shipped_learned
    from bot.understanding.learned import Example, LearnedReader

    control = ["he checks my phone every night and reads all my messages",
               "she goes through my phone every night and reads my texts",
               "he reads all my messages every night and checks my phone"]
    calm = ["we went out for dinner with friends last night",
            "I am going to talk to him about the messages tonight",
            "my friends think I should give it another chance"]
    examples = tuple(Example(t, "coercive_control") for t in control) + tuple(
        Example(t, "none") for t in calm)
    learned = LearnedReader.fit(shipped_learned().features, LABELS, examples, 0.3, 0.0,
                                4, 3, 2)
    text = "she looks at my messages on her phone most nights, mostly"
    entry = SettingRule("mostly", frozenset({"coercive_control"}), "none",
                        (re.compile(r"\bmostly\b"),))
    rules = replace(load_rules(), in_setting=(entry,))
    assert screen(text, None, STORY_HURT, learned).rule.startswith("learned.coercive_control:")
    assert screen(text, rules, STORY_HURT, learned).rule.startswith("mostly:learned.")
    lead = learned.read(text).lead_over("none")
    strong = replace(learned, overrule=lead - 0.01)
    assert screen(text, rules, STORY_HURT, strong).rule.startswith("learned.coercive_control:")
    assert not screen(text, rules, STORY_HURT, replace(learned, overrule=lead + 0.01)
                      ).is_flagged
    yielding = replace(rules, in_setting=(replace(entry, strong_learned_stands=False),))
    assert not screen(text, yielding, STORY_HURT, strong).is_flagged


def test_an_entry_lets_a_strong_reading_stand_unless_it_says_otherwise() -> None:
    """Watching said to the partner, or as one's commitment, is answered by the coach however
    strongly it reads as control; everything else lets a strong reading stand."""
    raw = safe_data((REPO / "flows" / "safety" / "screen_rules.yaml").read_text(
        encoding="utf-8"))
    yielding = {e.id for e in build_rules(raw).in_setting if not e.strong_learned_stands}
    assert yielding == {"watching_said_to_partner", "watching_as_commitment"}
    offered = next(e for e in raw["in_setting"] if e["id"] == "consented_openness")
    assert "strong_learned_stands" not in offered  # the default
    raw["in_setting"] = [{**offered, "strong_learned_stands": False}]
    assert not build_rules(raw).in_setting[0].strong_learned_stands


def test_words_of_consent_do_not_lower_what_reads_as_an_end() -> None:
    from bot.safety.screen import shipped_learned

    decided = "thanks for trying but I've made my decision. I said bye to my sister this morning"
    assert screen(decided, None, Setting("hurt", "chat"), shipped_learned()).category == "self_harm"
    told = "I'll tell my GP about the cutting, that's all I can manage"
    assert screen(told, None, Setting("hurt", "boundary"), shipped_learned()).is_flagged


@pytest.mark.parametrize("text", [
    "you can read my messages any time, I want you to",
    "I will give you my passwords so you can check my phone if you need to",
])
def test_an_offer_said_to_the_partner_is_openness_not_control(text: str) -> None:
    for setting in (Setting("crossed", "boundary"), Setting("crossed", "rehearsal"),
                    STORY_HURT):
        result = screen(text, None, setting)
        assert not result.is_flagged and result.rule.startswith("consented_openness:"), setting


@pytest.mark.parametrize("text", [
    "he says you can read my messages but he reads mine every night and makes me hand it over",
    "she told me you can check my phone or else",
])
def test_an_offer_beside_control_is_still_control(text: str) -> None:
    assert screen(text, None, STORY_HURT).is_flagged


@pytest.mark.parametrize("text", [
    "I agreed he could check my phone, and now he has my bank app and reads my work email too",
    "she goes through my phone every night. i said yes because otherwise she'd tell my parents",
    "I told her she could look at my messages. now she checks my location every hour. I agreed "
    "to some of it but not this much",
    "we agreed to share locations. I also put spyware on his phone so I see his chats",
    "she can read my messages any time, I said ok because I was so ashamed of the dating app",
])
def test_consent_that_grew_into_control_is_no_consent(text: str) -> None:
    """Consent given, and then more taken, or given under a threat or out of shame, or beside
    secret watching, is control told with a word of consent in it."""
    assert screen(text, None, STORY_HURT).is_flagged


@pytest.mark.parametrize("text", [
    "we agreed to share our locations, and now we both feel calmer when one of us is late",
    "I told him he could read my messages; now he says he doesn't need to",
])
def test_consent_and_what_came_of_it_can_be_calm(text: str) -> None:
    assert not screen(text, None, STORY_HURT).is_flagged
