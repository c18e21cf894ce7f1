"""What a person typed about their partner is said to the partner, and quoted back in the
partner's voice; where who is meant is unclear, the person's words stay as typed."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.person_words import (
    PERSON_WORDS_FILE,
    SERVICE,
    PersonWords,
    address_partner,
    build_person_words,
    load_person_words,
    partner_view,
    shipped,
    to_partner,
)
from tests.conftest import REPO

SHIPPED_FILE = REPO / "flows" / PERSON_WORDS_FILE

# (typed, said to the partner)
TO_PARTNER = [
    # the brief's own examples
    ("he texts his coworker every night", "you text your coworker every night"),
    ("she's always on her phone with him", "you're always on your phone with him"),
    ("my husband hides his phone", "you hide your phone"),
    ("my girlfriend still has her dating profile up", "you still have your dating profile up"),
    ("they message their ex", "you message your ex"),
    ("I saw him flirting with Sam", "you flirting with Sam"),
    ("I've noticed I saw him flirting with Sam", "you flirting with Sam"),
    # verbs that agree with "you"
    ("He still follows his ex on instagram", "you still follow your ex on instagram"),
    ("my hubby is always on his phone", "you are always on your phone"),
    ("my wife has been messaging her old boss", "you have been messaging your old boss"),
    ("she doesn't put her phone down at dinner", "you don't put your phone down at dinner"),
    ("he never tells me who he's texting", "you never tell me who you're texting"),
    ("he goes quiet when I ask about her", "you go quiet when I ask about her"),
    ("she watches his stories every day", "you watch his stories every day"),
    ("my boyfriend tries to hide his screen", "you try to hide your screen"),
    ("he buys himself a second phone", "you buy yourself a second phone"),
    ("she fixes her hair before she texts him", "you fix your hair before you text him"),
    ("he was texting Sam till 3am", "you were texting Sam till 3am"),
    ("he wasn't honest about where he was", "you weren't honest about where you were"),
    ("he isn't wearing his ring when he goes out",
     "you aren't wearing your ring when you go out"),
    ("she hasn't deleted her dating app", "you haven't deleted your dating app"),
    ("he told Sam he was single", "you told Sam you were single"),
    ("He said he was at work but he was with her",
     "you said you were at work but you were with her"),
    # a second verb of the same "you"
    ("my bf txts his ex and hides his phone", "you txt your ex and hide your phone"),
    ("he watches porn and tries to hide it", "you watch porn and try to hide it"),
    ("he messages and calls her when I'm asleep", "you message and call her when I'm asleep"),
    ("he sends and deletes snaps", "you send and delete snaps"),
    ("he goes on his phone and smiles at it", "you go on your phone and smile at it"),
    ("he deletes his messages before he comes to bed",
     "you delete your messages before you come to bed"),
    # "'s": is, has, or whose
    ("He's been texting his ex", "you've been texting your ex"),
    ("he’s been liking her photos", "you’ve been liking her photos"),
    ("she's got a new password on her phone", "you've got a new password on your phone"),
    ("lately she's been really secretive", "lately you've been really secretive"),
    ("he's obsessed with his phone", "you're obsessed with your phone"),
    ("he's married to his phone lol", "you're married to your phone lol"),
    ("he's the one who started it", "you're the one who started it"),
    ("my husband's phone is always face down", "your phone is always face down"),
    ("my wife's always on her phone", "you're always on your phone"),
    ("he’s always on his phone", "you’re always on your phone"),
    ("hes always on his phone", "you're always on your phone"),
    # the many names for a partner, UK and US
    ("my bf likes other girls pics", "you like other girls pics"),
    ("my fiancé is still on tinder", "you are still on tinder"),
    ("my fiancée flirts with her trainer", "you flirt with your trainer"),
    ("my partner keeps their phone face down", "you keep your phone face down"),
    ("my spouse is texting someone at 2am", "you are texting someone at 2am"),
    ("my other half spends hours messaging someone", "you spend hours messaging someone"),
    ("my man doesnt let me see his phone", "you dont let me see your phone"),
    ("My Missus is always on her phone", "you are always on your phone"),
    # singular they
    ("they're always laughing at their phone", "you're always laughing at your phone"),
    ("they've been distant since they started the new job",
     "you've been distant since you started the new job"),
    ("they was on the phone to their ex", "you were on the phone to your ex"),
    # lead-ins that would double "I've noticed"
    ("i found his tinder profile", "your tinder profile"),
    ("I found out he has a secret snapchat", "you have a secret snapchat"),
    ("I found out that he's still on Tinder", "you're still on Tinder"),
    ("I caught him texting his ex at 1am", "you texting your ex at 1am"),
    ("I saw that she's still talking to her ex", "you're still talking to your ex"),
    ("I caught her texting her ex", "you texting your ex"),
    ("I see him liking girls' pictures", "you liking girls' pictures"),
    # words before the partner
    ("the way he looks at his coworker", "the way you look at your coworker"),
    ("Every night he texts her", "Every night you text her"),
    ("his phone lights up at night", "your phone lights up at night"),
    ("her messages with him are deleted", "your messages with him are deleted"),
    ("their phone is always on silent", "your phone is always on silent"),
    ("he and his ex still talk every day", "you and your ex still talk every day"),
    # typos, capitals, shorthand
    ("he dosent answer when I call", "you dont answer when I call"),
    ("she dm's guys on insta", "you dm guys on insta"),
    ("HE HIDES HIS PHONE", "YOU HIDE YOUR PHONE"),
    ("he would rather talk to her than me", "you would rather talk to her than me"),
    ("he'll text her the minute I leave", "you'll text her the minute I leave"),
    ("he'd already deleted the chat", "you'd already deleted the chat"),
    ("he calls her babe", "you call her babe"),
    ("she calls him babe", "you call him babe"),
    ("he keeps saying she's just a friend", "you keep saying she's just a friend"),
    ("my husband texts his ex. He says they're just friends.",
     "you text your ex. You say they're just friends."),
]

# Kept exactly as typed: said to the partner already, or not clear who is who.
UNCHANGED = [
    "you texting your ex late at night",  # already said to them
    "u text your ex",
    "your ex messaging you",
    "he saw him",  # two men
    "she calls her every night",  # two women
    "my husband told him he was single",
    "he really wants me to trust him",
    "my gf's ex still messages her",
    "my husband's ex texts him constantly",
    "me and my husband hardly talk",  # "we"?
    "my husband Tom hides his phone",  # a name we would have to drop
    "they both follow him",  # "they" is several people
    "Sam keeps texting him",  # someone named first
    "my sister saw him with another woman",
    "when I walk in he locks his phone",
    "hubby is always on his phone",  # no "my": a word we do not take for the partner
    "messages from an unknown number on his phone",
    "a woman called Jess messaging him",
    "the phone is his",
    "Sam's messages",
    "",
]

# (said to the partner, as the partner says it)
PARTNER_VIEW = [
    ("you texting your ex late at night", "me texting my ex late at night"),
    ("you text your coworker every night", "I text my coworker every night"),
    ("your dating profile still being up", "my dating profile still being up"),
    ("you don't share with me", "I don't share with you"),
    ("you hide your phone", "I hide my phone"),
    ("you're always on your phone with him", "I'm always on my phone with him"),
    ("you've been liking her photos", "I've been liking her photos"),
    ("you were flirting with your boss at the party",
     "I was flirting with my boss at the party"),
    ("you weren't honest about where you were", "I wasn't honest about where I was"),
    ("you aren't wearing your ring", "I am not wearing my ring"),
    ("you told Sam you were single", "I told Sam I was single"),
    ("you never tell me who you're texting", "I never tell you who I'm texting"),
    ("you go quiet when I ask about her", "I go quiet when you ask about her"),
    ("the flirting between you and someone else, past the point of just being friendly",
     "the flirting between me and someone else, past the point of just being friendly"),
    ("you messaging someone a lot and keeping it private",
     "me messaging someone a lot and keeping it private"),
    ("that your dating app profile is still active",
     "that my dating app profile is still active"),
    ("you playing down or hiding how much you talk to one person",
     "me playing down or hiding how much I talk to one person"),
    ("you sharing personal things with someone else that you don't share with me",
     "me sharing personal things with someone else that I don't share with you"),
    ("you telling people you're single, or playing down that we're together",
     "me telling people I'm single, or playing down that we're together"),
    ("you'll text her the minute I leave", "I'll text her the minute you leave"),
    ("you buy yourself a second phone", "I buy myself a second phone"),
    ("you would rather talk to her than me", "I would rather talk to her than you"),
    ("I saw you text her", "you saw me text her"),
    ("I'm scared you were lying to me", "you're scared I was lying to you"),
    ("the way you look at your coworker", "the way I look at my coworker"),
    ("I was asleep when you texted her", "you were asleep when I texted her"),
    ("you dont let me see your phone", "I dont let you see my phone"),
    ("YOU HIDE YOUR PHONE", "I HIDE MY PHONE"),
    ("you’re always on your phone", "I’m always on my phone"),
    ("Sam's messages on your phone", "Sam's messages on my phone"),
    ("messages from an unknown number", "messages from an unknown number"),
    ("you like her photos", "I like her photos"),
]


@pytest.mark.parametrize(("typed", "said"), TO_PARTNER)
def test_words_about_the_partner_are_said_to_them(typed: str, said: str) -> None:
    assert to_partner(typed) == said


@pytest.mark.parametrize("typed", UNCHANGED)
def test_unclear_or_already_addressed_words_stay_as_typed(typed: str) -> None:
    assert to_partner(typed) == typed


@pytest.mark.parametrize(("said", "quoted"), PARTNER_VIEW)
def test_the_partner_quotes_it_in_their_own_voice(said: str, quoted: str) -> None:
    assert partner_view(said) == quoted


@pytest.mark.parametrize(("typed", "said"), TO_PARTNER)
def test_words_said_to_the_partner_are_not_changed_again(typed: str, said: str) -> None:
    assert to_partner(said) == said


@pytest.mark.parametrize(("typed", "quoted"), [
    ("he texts his coworker every night", "I text my coworker every night"),
    ("I saw him flirting with Sam", "me flirting with Sam"),
    ("my girlfriend still has her dating profile up", "I still have my dating profile up"),
    ("she doesn't tell me where she goes", "I don't tell you where I go"),
])
def test_from_the_person_to_the_partner_s_voice(typed: str, quoted: str) -> None:
    assert partner_view(to_partner(typed)) == quoted


def test_a_lead_in_alone_is_kept() -> None:
    assert to_partner("I saw") == "I saw"
    assert to_partner("I saw.") == "I saw."
    assert to_partner("I seen him") == "I seen him"  # not a lead-in: "he" is not first


def test_the_words_come_from_the_file_beside_the_flows(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    assert to_partner("my bae hides his phone") == "my bae hides his phone"
    raw["partner_nouns"]["neutral"].append("bae")
    words = build_person_words(raw)
    assert words.to_partner("my bae hides his phone") == "you hide your phone"
    assert to_partner("my bae hides his phone", words) == "you hide your phone"


@pytest.mark.parametrize("broken", ["lead_ins", "pronouns", "verbs", "second_person"])
def test_a_file_without_a_list_is_reported_not_defaulted(tmp_path: Path, broken: str) -> None:
    raw = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    del raw[broken]
    path = tmp_path / "person_words.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    words, problems = load_person_words(path)
    assert words is None
    [problem] = problems
    assert problem.path == str(path) and broken in problem.message


def test_a_list_with_a_yaml_boolean_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "person_words.yaml"
    shutil.copy(SHIPPED_FILE, path)
    text = path.read_text(encoding="utf-8").replace('"yes"', "yes")
    path.write_text(text, encoding="utf-8")
    words, problems = load_person_words(path)
    assert words is None and "True" in problems[0].message


def test_the_shipped_words_load() -> None:
    words, problems = load_person_words(SHIPPED_FILE)
    assert problems == [] and isinstance(words, PersonWords)
    assert isinstance(shipped(), PersonWords)


def test_the_flow_address_uses_the_words_loaded_with_the_flows() -> None:
    english = SimpleNamespace(lang="en")
    ctx = SimpleNamespace(services={SERVICE: shipped()}, session=english)
    assert address_partner(ctx, "he hides his phone") == "you hide your phone"  # type: ignore[arg-type]
    bare = SimpleNamespace(services={}, session=english)
    assert address_partner(bare, "he hides his phone") == "he hides his phone"  # type: ignore[arg-type]


def test_words_in_another_language_are_kept_as_typed_never_turned_with_english() -> None:
    """"he notado que me ocultas cosas" is Spanish: its "he" and "me" are not the English ones."""
    spanish = SimpleNamespace(services={SERVICE: shipped()}, session=SimpleNamespace(lang="es"))
    typed = "he notado que me ocultas cosas"
    assert address_partner(spanish, typed) == typed  # type: ignore[arg-type]
    assert shipped().reads("en") and not shipped().reads("es") and shipped().reads(None)


FUZZ_WORDS = (
    "he", "she", "they", "him", "her", "his", "hers", "their", "them", "himself", "my",
    "husband's", "husband", "wife", "bf", "and", "but", "is", "was", "has", "does", "texts",
    "tries", "he's", "she's", "they're", "you", "your", "I", "me", "saw", "found", "out",
    "that", ",", ".", "’", "'s", "always", "not", "been", "on", "with", "Sam", "the", "every",
    "night", "lately", "hes", "dm's",
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FUZZ_WORDS), max_size=10))
def test_any_words_come_back_as_text(words: list[str]) -> None:
    text = " ".join(words)
    said = to_partner(text)
    assert isinstance(said, str) and isinstance(partner_view(said), str)
    assert to_partner(said) == said  # once said to the partner, it stays so
