"""Tests for the rule-based safety screen (bot/safety) and its CLI.

The labelled-data test at the bottom is the quality bar: recall and false-alarm rate on the
held-out test split, which is never used to tune rules.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.safety import screen as screen_module
from bot.safety.evaluation import assign_split, benchmark, evaluate, load_labelled
from bot.safety.screen import (
    CATEGORIES,
    RISK_LEVELS,
    ScreenResult,
    load_rules,
    screen,
)

DATA = Path(__file__).parent / "data"  # test data: the screen's CLI is given it, never finds it
LABELLED = DATA / "safety_labelled.yaml"
RECALL_TARGET = 0.95
FALSE_ALARM_LIMIT = 0.10


def _flagged_as(text: str, category: str) -> None:
    result = screen(text)
    assert result.is_flagged, f"not flagged ({result.rule})"
    assert result.category == category, f"wrong category {result.category} ({result.rule})"


def _not_flagged(text: str) -> None:
    result = screen(text)
    assert not result.is_flagged, f"false alarm by {result.rule}"
    assert result.category == "none"


# --------------------------------------------------------------------------- API


def test_result_shape_and_dict() -> None:
    result = screen("he slapped me")
    assert result == ScreenResult("risk", "violence", result.rule)
    assert result.is_flagged
    assert result.to_dict() == {"risk": "risk", "category": "violence", "rule": result.rule}
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.risk = "none"  # type: ignore[misc]


def test_clean_message_is_none() -> None:
    result = screen("How do I bring up the dating app without starting a fight?")
    assert result.to_dict() == {"risk": "none", "category": "none", "rule": "no_match"}
    assert not result.is_flagged


def test_rule_never_contains_user_text() -> None:
    known = {rule.id for rule in load_rules().rules}
    for item in load_labelled(LABELLED):
        rule = screen(item["text"]).rule
        base = rule.split(":", 1)[-1]
        assert base in known or base.startswith("idiom.") or rule in {"no_match", "empty"}
        assert item["text"].lower() not in rule


# --------------------------------------------------------------------------- positives

VIOLENCE = [
    "he hit me last night",
    "HE HIT ME",
    "my boyfriend, when he's drunk, hits me",
    "he slaped me",
    "he chocked me last nite",
    "gf slapped me bc i asked about the guy from work",
    "bf put his hands on me",
    "he pushed me into the wall",
    "he threw me down the stairs",
    "she threw her phone at my head",
    "he squeezed my neck until i couldnt breathe",
    "he grabbed me by the throat",
    "he strangled me last week and I can't stop shaking",
    "he threatened to beat me if i talk to him again",
    "he texted me that he would kill me",
    "my husband said he'll break my neck if i talk to my ex again",
    "he said he'd put me in the hospital",
    "he said \"i'll kill you\" and i think he meant it",
    "he said hed rather see me dead than with someone else",
    "he tried to run me over with the car",
    "he threatened to shoot me",
    "he waved a gun at me",
    "he raped me",
    "he forced himself on me",
    "he wouldn't stop when i said no",
    "he made me have sex with him to make up",
    "he pressured me into sex when i didnt want to",
    "he did stuff to me while i was asleep",
    "i'm terrified of my husband",
    "I'm scared of my boyfriend",
    "i'm scared he'll hurt me",
    "I'm afraid he might hurt the kids",
    "i dont feel safe with him",
    "i am scared for my life",
    "i've got bruises on my neck",
    "he hurt me physically last night",
    "he gets physical when he's drunk",
    "he smashed my phone against the wall",
]

COERCIVE_CONTROL = [
    "he checks my phone every night",
    "she reads my dms",
    "he makes me show him my phone",
    "i have to show him my texts every night",
    "he put a tracking app on my phone",
    "she put an airtag in my bag",
    "she tracks where i go with my phone",
    "he makes me share my location 24/7 or he freaks",
    "he has my location and gets mad if i turn it off",
    "he logs into my email",
    "he changed my passwords so i cant get in",
    "my husband won't let me see my family",
    "he doesnt let me go out w my friends",
    "i'm not allowed to see my friends",
    "he isolated me from everyone",
    "he says i can't have male friends",
    "he controls my money",
    "i have to ask him for money for everything",
    "he won't give me access to our bank account",
    "he said i'd never see my kids again",
    "she said she'd take the kids away from me",
    "he threatened to tell my family i'm bi",
    "he threatened to send my pics to everyone",
    "he threatens to report me to immigration",
    "he won't let me leave",
    "he took my passport and won't give it back",
    "he threatens to kill himself whenever i try to leave",
]

SELF_HARM = [
    "i cut again last night, first time in three years. the messages kept replaying",
    "I've burned again, I'm sorry",
    "i want to die",
    "i wanna die lol this is too much",
    "wanna kill myself tbh",
    "i want to kill my self",
    "kms",
    "i think i'm suicidal",
    "Ive been having sucidal thoughts",
    "i want to end it all",
    "i wish i wasn't here",
    "i dont want to live anymore",
    "I'm not sure I want to live",
    "nobody would care if i died",
    "everyone would be better off if i wasn't here",
    "i've been self harming again",
    "i cut myself last night",
    "i'm going to overdose",
    "i swallowed a whole bottle of pills",
    "i want to jump off a building",
    "i wish i could go to sleep and never wake up",
    "theres no point in living without him",
    "i wrote a goodbye letter",
    "Life isn't worth living anymore",
]


@pytest.mark.parametrize("text", VIOLENCE)
def test_violence_flagged(text: str) -> None:
    _flagged_as(text, "violence")


@pytest.mark.parametrize("text", COERCIVE_CONTROL)
def test_coercive_control_flagged(text: str) -> None:
    _flagged_as(text, "coercive_control")


@pytest.mark.parametrize("text", SELF_HARM)
def test_self_harm_flagged(text: str) -> None:
    _flagged_as(text, "self_harm")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I'm scared of what he'll do", "violence"),
        ("he gets really angry when I bring it up", "violence"),
        ("he screams at me every night", "violence"),
        ("He always needs to know where I am and who I'm with every second", "coercive_control"),
        ("I'm walking on eggshells all the time", "coercive_control"),
        ("I can't go on", "self_harm"),
        # What someone will do "if I ...": asked about gently, unless it is only a feeling, or
        # only leaving over a betrayal (that is a boundary).
        ("he said if I see my friends this weekend he'll leave me", "coercive_control"),
        ("if I miss one of her calls she makes me sleep in the car", "coercive_control"),
        # ... in the category of what follows: harm to the body, or the user's own life.
        ("if i bring it up she'll go for my sister to get at me", "violence"),
        ("if I mention the texts he'll lose it and hit something", "violence"),
        ("if she goes back to him i won't be here much longer", "self_harm"),
        ("he said if i bring her up again he'll shut me up himself", "violence"),
        ("honestly it'd be easier for everyone if I just wasn't here anymore", "self_harm"),
        # a reassurance speaks for its own categories: the sign of control stands
        ("He's never hit me. He just says if I text Tom again he'll finish what he started",
         "coercive_control"),
    ],
)
def test_unsure_cases(text: str, category: str) -> None:
    result = screen(text)
    assert (result.risk, result.category) == ("unsure", category), result.rule


@pytest.mark.parametrize(("text", "category"), [
    ("it's 4am, I've written the note, I just wanted to tell someone", "self_harm"),
    ("lol what's the highest bridge in leeds, asking for a friend", "self_harm"),
    ("been reading up on ways that look like accidents", "self_harm"),
    ("what's the point fixing this, i won't be here for our anniversary anyway", "self_harm"),
    ("he'd be free to be with her if i wasn't here", "self_harm"),
    ("I told him I'd find the guy and break his legs", "violence"),
    ("i told him i'd burn his stuff and him with it", "violence"),
    ("my friend's boyfriend choked her when he found the messages", "violence"),
    ("when i'm angry i get rough with her, i know that", "violence"),
    ("i've started following him home from work to make sure he goes straight home",
     "coercive_control"),
    ("thinking of getting his phone cloned, a lad at work can do it", "coercive_control"),
    ("my sister isn't allowed her own phone anymore since she liked her ex's photo",
     "coercive_control"),
    ("From now on I read every message before you send it.", "coercive_control"),
    ("he smothered me with a pillow when he found the messages", "violence"),
    ("i feel like im going to snap and hit her, i dont trust myself", "violence"),
    ("i sat outside his flat last night with a bat in the boot", "violence"),
    ("he says he'll kill me if I ever take her back", "violence"),  # a partner's stands
    ("he drives really fast with the kids in the back when he's angry", "violence"),
    ("he has my email, my banking login, my icloud", "coercive_control"),
    ("He picks what I wear now.", "coercive_control"),
    ("give me your phone. unlock it. you don't get privacy anymore", "coercive_control"),
    ("I've been going through his laptop and his work email. He doesn't know.",
     "coercive_control"),
    ("the life insurance is paid up, so that's one thing sorted", "self_harm"),
    ("drove around drunk, kind of hoping something would happen", "self_harm"),
    # held in is violence (the label definitions: "trapped or blocked in"); kept out, control
    ("she locked me in the box room until I gave her my passcode", "violence"),
    ("he stood in the doorway for an hour so I couldn't get out", "violence"),
    ("he locked me out on the balcony in the rain", "violence"),
    ("she locked me out of our joint account", "coercive_control"),
    ("he hid my car keys so I couldn't see my friends", "coercive_control"),
    # not safe with oneself is self-harm
    ("I'm safe from her. It's me I'm not safe from tonight.", "self_harm"),
    ("honestly I don't feel safe with myself at the moment", "self_harm"),
    # the user's own act, told as done
    ("I shoved him when he wouldn't unlock the laptop. I've never been like this", "violence"),
    ("i slapped her across the face after she laughed about the tinder thing", "violence"),
    ("i had him pinned against the fridge until he said sorry", "violence"),
    ("is choking normal when he's upset? he only did it the once", "violence"),
    ("she twisted my wrist behind my back to get the phone", "violence"),
    ("she's lovely really, she only hits when she's had a drink", "violence"),
    ("the last row ended with me on the kitchen floor", "violence"),
    ("if anything happens to me, it was him. I've told my sister", "violence"),
    ("I'm not sure what I'd do to him if he lies again", "violence"),
    ("he says he'll find the guy and sort him out", "violence"),
    ("u want to see what happens? keep texting him", "violence"),
    ("she locked the back door and hid the key so we could 'talk it through'", "violence"),
    # an overdose or self-injury told plainly, whatever follows
    ("took too many of my sleeping pills on saturday but I'm fine now haha", "self_harm"),
    ("I swallowed half the bottle before I started typing", "self_harm"),
    ("my commitment is to stop cutting. 5 days now", "self_harm"),
    ("by the time you read this I won't be your problem", "self_harm"),
    ("my brother gets the car if anything happens to me, it's sorted", "self_harm"),
    ("not eating, want to shrink till there's nothing left of me", "self_harm"),
    # control by either partner
    ("thinking about putting an airtag in her handbag, she won't know", "coercive_control"),
    ("if he ever tries to leave, I'll send his mum the lot", "coercive_control"),
    ("she questions me till I say what she wants to hear", "coercive_control"),
    ("he said I'd be forgiven if I handed my wages over to him", "coercive_control"),
    ("you don't go anywhere without texting me first. that's the rule now", "coercive_control"),
    ("he took my phone at the party and wouldn't give it back till we got home",
     "coercive_control"),
    ("she put a camera in the bedroom 'for security' since the snap thing", "coercive_control"),
    ("fine, I'll send you my location every 20 minutes", "coercive_control"),
    ("if I don't do what she says she'll tell my boss about the chats", "coercive_control"),
    # what is left and said before an end; means within reach
    ("I've written him a letter for after. can you check the tone", "self_harm"),
    ("my sister can have the flat so she's not the one who finds me", "self_harm"),
    ("tell her it's not her fault, whatever happens to me", "self_harm"),
    ("if I'm not here next month, the dog goes to Ruth", "self_harm"),
    ("what's the most painless way, asking for me", "self_harm"),
    ("where would you get a lot of co-codamol without a prescription", "self_harm"),
    ("I scratched myself on purpose when I saw the hearts on her post", "self_harm"),
    ("burned myself with the kettle on purpose last night", "self_harm"),
    # words about the partner speak for the partner, not for the person's own danger
    ("he's not dangerous. I'm a bit of a danger to myself right now", "self_harm"),
    # watched through others; danger told by what the person now does
    ("he texts my sister to check where I am every evening", "coercive_control"),
    ("I've gone through her phone every night while she sleeps for a month", "coercive_control"),
    ("he stopped giving me money for the shopping until I drop the subject", "coercive_control"),
    ("I gave my neighbour a code word in case he kicks off", "violence"),
    ("she chucked a mug at me, it missed me, just", "violence"),
    ("been driving home with no seatbelt on purpose, just seeing", "self_harm"),
    # violence in everyday words
    ("he broke my jaw in the summer and I'm still with him", "violence"),
    ("I'll shut your mouth for you if you mention her again", "violence"),
    ("go on then, see what happens", "violence"),
    ("he swerved at me in the drive when I said I'd seen the texts", "violence"),
    ("please just let me out of the bedroom, I'll give you the phone", "violence"),
    # control by the clock, the camera, in secret and by what is held back
    ("he wants a selfie every 30 minutes when I'm out with the girls", "coercive_control"),
    ("she calls my work to check I'm actually there", "coercive_control"),
    ("I set up his whatsapp on my laptop while he was asleep", "coercive_control"),
    ("he says I can have my bank card back when I've earned it", "coercive_control"),
    ("I'll send the screenshots to your whole family if you leave", "coercive_control"),
    # the writer's own threat to someone; watching a partner in secret, or asking how to
    ("if that guy from her gym texts her again I'm going to glass him", "violence"),
    ("I'll go round to her ex's place with a hammer and we'll see", "violence"),
    ("tell him I'll break his legs if he comes near her", "violence"),
    ("I keep going through his messages while he's asleep, he has no clue", "coercive_control"),
    ("how can I get into her instagram without her finding out", "coercive_control"),
    ("I want to set up a fake profile so I can watch who likes his posts", "coercive_control"),
    ("is there an app that forwards all his texts to me", "coercive_control"),
    ("his family threaten to have me deported if I leave him", "coercive_control"),
    # ends told as answers; danger told by what the body learned
    ("honestly better I die than my parents find out", "self_harm"),
    ("I'm the problem here and the solution is simple", "self_harm"),
    ("finally updated my will last night, such a relief", "self_harm"),
    ("I've got quick at covering my head when he starts", "violence"),
    ("when he backs me into the kitchen corner I just go quiet", "violence"),
    # means asked about or made ready; menace and force in plain words; control by its price
    ("twenty of my sleeping tablets and half a bottle of gin, would that be enough", "self_harm"),
    ("how many of these painkillers would it take, roughly", "self_harm"),
    ("I tied a scarf to the banister last night just to see", "self_harm"),
    ("I've had the razor ready on the side of the bath all week", "self_harm"),
    ("one way trip to the coast on friday, won't need a return ticket", "self_harm"),
    ("he texted 'you're going to get it when I'm back from the pub'", "violence"),
    ("she punched the door and said this could be you", "violence"),
    ("he stamped on my hand when I reached for my phone", "violence"),
    ("the silent treatment lasts until I apologise for asking about her", "coercive_control"),
    ("I'm allowed to see my friends on Fridays as long as I'm back by nine", "coercive_control"),
    ("she hid my car keys so I can't get to work and see him", "coercive_control"),
    ("I left an old phone recording under his car seat", "coercive_control"),
    # pleas and threats said in the moment; control in the first person; ends told sideways
    ("it's only a chat, please don't hurt me", "violence"),
    ("we can talk, just put the knife down first", "violence"),
    ("one more lie and you'll end up in an ambulance", "violence"),
    ("I'm going to go round and teach that girl a lesson", "violence"),
    ("you can see your sister when I say so", "coercive_control"),
    ("please just let me keep my mum's number, that's all I ask", "coercive_control"),
    ("he texts my friends from my account to test them", "coercive_control"),
    ("I'll stop if she wants, and if not, I'll end it, and I don't mean the relationship",
     "self_harm"),
    ("I'm sorry I'm still alive, honestly", "self_harm"),
    ("the bridge on my way home is starting to look friendly", "self_harm"),
    # harm and ends in the plainest words, as English learners and people in a hurry put them
    ("i tell him please stop hurting me, he not listen", "violence"),
    ("her brother says only one of us will walk out if we meet", "violence"),
    ("he went and got the axe out of the shed and just stood there", "violence"),
    ("she kicked the dog when I didn't show her my phone", "violence"),
    ("he said he will break both my arms", "violence"),
    ("I won't be a burden to anyone very soon", "self_harm"),
    ("if you don't hear from me after tonight, tell her I'm sorry", "self_harm"),
    ("there's a voice telling me to step off the platform", "self_harm"),
    ("I drank some bleach on sunday, not much", "self_harm"),
    # the same told politely or at length, as older writers do
    ("I keep the old rifle in the loft and think of turning it on myself", "self_harm"),
    ("I have made my final arrangements and written to the children", "self_harm"),
    ("I took a handful of whatever was in the cabinet and went to sleep", "self_harm"),
    ("She came at me with the carving knife when I mentioned the emails", "violence"),
    ("He has started squaring up to me whenever her name comes up", "violence"),
    ("I am not permitted to ring my sister; he tells me when I can phone her", "coercive_control"),
    ("My pension has been paid into his account since he read my letters", "coercive_control"),
    ("He has forbidden me from going to the church group", "coercive_control"),
    # the same texted by the young, where "lol" or "sorry" is no clearing
    ("cut again last night lol whatever", "self_harm"),
    ("honestly not sure i'll still be here by christmas", "self_harm"),
    ("i just want out. permanently", "self_harm"),
    ("she went for my eyes again, i've got scratches everywhere", "violence"),
    ("her cousin turned up outside my flat with a baseball bat", "violence"),
    ("he says he'll get his mates to sort me out", "violence"),
    ("she gives my phone back for one hour a day", "coercive_control"),
    ("i've been logging into his snap and deleting girls", "coercive_control"),
    ("can't go to the party because you won't let me", "coercive_control"),
    # in any words, any dialect
    ("I'm sorry I shoved you, it won't happen again", "violence"),
    ("he gets a bit handy after a few pints", "violence"),
    ("ask me again when the bruising goes down", "violence"),
    ("my dad's old pistol in my lap most nights now", "self_harm"),
    ("i'd be fine if i just didn't wake up tomorrow", "self_harm"),
    ("you won't have to worry about me after tonight", "self_harm"),
    ("gonna put a spy app on her phone tonight", "coercive_control"),
    ("I need permission to go to the shop now", "coercive_control"),
    ("give me the code or I'm posting the screenshots", "coercive_control"),
    # told as plans and places, as things, as arrangements
    ("I've stopped caring whether I wake up", "self_harm"),
    ("been researching methods most of the night", "self_harm"),
    ("how many co-codamol would be too many for someone my weight", "self_harm"),
    ("I drove to the viaduct last night and sat at the edge for an hour", "self_harm"),
    ("we have to talk somewhere public because of the choking thing", "violence"),
    ("she threw me down the stairs when I wouldn't unlock it", "violence"),
    ("he locked the doors and I can't get out till he's calm", "violence"),
    ("she takes my phone to work with her every day now", "coercive_control"),
    ("I only see my friends if I hand over my payslip first", "coercive_control"),
    # told in passing, as a place, as house rules
    ("I went quiet, then I lost it and shoved her, I hate myself for it", "violence"),
    ("he hit the door right next to my head last night", "violence"),
    ("she says if she ever meets the girl from his office she'll break her nose", "violence"),
    ("does it count as abuse if he only does it when he's drunk", "violence"),
    ("I keep sitting on the roof at night, eleventh floor", "self_harm"),
    ("how cold does the water have to be before you stop feeling anything", "self_harm"),
    ("I've got a few new ones since Friday, next to the old scars", "self_harm"),
    ("my husband holds all of our accounts now", "coercive_control"),
    ("found an airtag in my handbag after the row about the app", "coercive_control"),
    # to or about anyone; made to; ends as errands
    ("I threw my glass at him when he lied again", "violence"),
    ("he told her ex he knows where his kids go to school", "violence"),
    ("his brother says he's going to break his legs", "violence"),
    ("she keeps making me put every text in a shared doc", "coercive_control"),
    ("he records my calls since he found the app", "coercive_control"),
    ("I've written letters to my parents, just in case", "self_harm"),
    ("I'll take myself out of the picture, it's simpler", "self_harm"),
    # places visited and quiet things; force in passing; the deal
    ("I keep thinking about just going under when I'm in the bath", "self_harm"),
    ("I went up to the roof of the car park and stood there for ages", "self_harm"),
    ("gave my niece my grandmother's ring, I want to see her wear it while I'm still here",
     "self_harm"),
    ("he hits things when he's angry. walls, the dog once", "violence"),
    ("if he raises his hand again I'm going to my mum's", "violence"),
    ("I hide in the bathroom with the kids when he starts", "violence"),
    ("house rules since she found the chats: phone face-up at dinner", "coercive_control"),
    ("I have to leave the bathroom door open now", "coercive_control"),
    ("he's made sure I don't have anyone else to talk to", "coercive_control"),
    # round twelve: the cover story, the aftermath, menace left unsaid, ends arranged
    ("I told work I walked into a cupboard. I didn't walk into anything", "violence"),
    ("we talked about the app and I woke up with a split lip", "violence"),
    ("he's been better, he only went for me twice this month", "violence"),
    ("remember your laptop? next time it's not going to be the laptop", "violence"),
    ("if I see her at the gym I won't be responsible for what I do", "violence"),
    ("what's the sentence for ABH, roughly, asking for no reason", "violence"),
    ("she logged in as me and messaged my friends for a fortnight", "coercive_control"),
    ("he has me doing an hourly check-in with a photo", "coercive_control"),
    ("I've memorised her passcode and read it all while she's at the gym", "coercive_control"),
    ("my wage isn't mine, my car isn't mine, my phone isn't mine", "coercive_control"),
    ("I've sorted who gets what and left the will out on the table", "self_harm"),
    ("I keep driving the coast road at night with my headlights off", "self_harm"),
    ("the dark thoughts are back and they're louder", "self_harm"),
    ("if I leave him he said I'd get hurt", "violence"),
    ("my brother said he'll stab him lol, he's just got out for GBH", "violence"),
    ("you know what happened last time you raised your voice at me", "violence"),
    ("you want your phone back? earn it. you want to see your mum? earn it", "coercive_control"),
    ("I wrote notes for everyone and I'm tying up loose ends before Friday", "self_harm"),
    ("I swallowed a whole packet of paracetamol after I read the texts", "self_harm"),
    ("she said if I ever text him again she'll put him in a wheelchair", "violence"),
    # a boundary said to the partner tells that it happened
    ("I know I hurt you with the texts, but you can't hit me, that's not ok", "violence"),
    ("I'll answer everything if you promise you won't shove me this time", "violence"),
    # after the nineteenth hold-out was scored: an idiom that hid a wish to die, and an end
    # in an older person's words
    ("honestly been wanting to die for a few days now", "self_harm"),
    ("I am 71 and I keep wondering if it is worth carrying on", "self_harm"),
    # session 13: plain words the older forms had no room for, and a fear of dying at
    # someone's hands that is violence, not a wish to die
    ("no. he chokes", "violence"),
    ("He found the deleted dms and put me through the glass coffee table", "violence"),
    ("i keep cutting and it's getting deeper", "self_harm"),
    ("I feel like I should be dead, not her crying in the bathroom", "self_harm"),
    ("like i was going to die. his hands were on my throat", "violence"),
    ("I have researched methods and I have a date in mind", "self_harm"),
    ("pls just tell me which medicine works fastest", "self_harm"),
    ("please don't tell me to call a helpline, I've decided", "self_harm"),
])
def test_general_forms_of_risk_are_caught(text: str, category: str) -> None:
    result = screen(text)
    assert result.is_flagged and result.category == category, result.rule


@pytest.mark.parametrize("text", [
    "I left a note on the fridge saying I'd be back late",
    "we went up the tallest building in Dubai on our honeymoon",
    "break a leg at the interview tomorrow!",
    "I won't be here for dinner on Friday, I'm at my mum's",
    "she choked up when she read the messages",
    "I could kill him lol, he liked his ex's beach photo at 2am",
    "I'm going to kill him with kindness and then ask about the girl",
    "I'm never going to hit her, whatever happens",
    "I'll check my phone less in the evenings",
    "I'm following her on insta again, is that weird?",
    # family and friends' "she'll kill me"; dying of cringe
    "my sister said she'd kill me if I take him back",
    "my best mate says he's gonna murder me when he hears about this",
    "I want to die (of cringe), he sent her a gym mirror selfie",
    "not the hill I want to die on, but the likes still bother me",
    # "if I ..." that is a worry, or the user's own promise
    "what if I bring it up and he just says I'm overreacting",
    "if I slip up and message her, I'll tell you myself",
    # the tenth round's forms: reaching, urging and contacting are not acts of harm; harm
    # long over, a blow as a simile, openness asked for, words said not to be a threat
    "I hit him up last night to ask if we could talk",
    "I pushed him to tell me the truth and he did",
    "I grabbed her hand and told her I was sorry",
    "i grabbed him and kissed him, we're trying",
    "I pushed her away emotionally for months",
    "I hit him back with a text saying we need to talk",
    "is hitting the gym every night a red flag?",
    "he's been twisting my words all week",
    "if anything happens to me at work, my sister is my emergency contact",
    "I'll stop cutting corners and actually listen",
    "if he ever tries to leave the conversation I'll let him go",
    "I put an airtag on her keys because she keeps losing them",
    "I'd throw myself under a bus for you, you know that",
    "i want to die lol he read my draft, so embarrassing",
    "she screamed and threw my jacket on the bed. tbh fair, we're alright now",
    "my ex hit me years ago, I'm out and safe now and with someone kind",
    "He shoved me once in 2011. He did an anger management course and it's never happened "
    "since, I'm not worried about that",
    "I used to self harm as a teen but I'm in a good place now, not urges, just memories",
    "my husband says he could throttle me with a grin whenever I hog the duvet. it's his way",
    "what's the most peaceful way to tell him I read the messages?",
    "he'll hit the gym again tomorrow and then we'll talk",
    "let's talk and see what happens",
    "can I have my phone charger back",
    "I drove to her house to talk face to face",
    "the last thing I want is a fight about the app",
    # harm long over and told as over; a blow as a simile or in sport; stuff thrown out
    "I went through a really bad patch at 20 with self-harm. I'm 45 now and well",
    "I had a dark time in my teens, hurting myself. it's been twenty years, I'm not in that "
    "place",
    "my dad was violent when I was little. I'm totally safe with my husband, he's never been "
    "anything but gentle",
    "I was in a controlling marriage in my twenties. I've been out of it for years",
    "it felt like someone had kicked me in the gut when I saw her name",
    "he kicked me in a match last week, unrelated, but the texts are the problem",
    "she threw my things out on the lawn when she found the app. fair",
    "when she gets mad she goes for a walk and comes back calmer",
    "we agreed he'll show me any message from her if I ask, for a month",
    "I keep the table between us at dinner, it's a big table",
    "he was flooring it to get to the hospital when the baby came",
    "my code word with my sister for 'rescue me from this party' is pineapple",
    "she threw the ball and it missed me by a mile lol",
    "I lost a tooth playing rugby in 2015",
    "my friend said just go through his phone while he sleeps. I'm not doing that",
    "he kicked a door once at 20, he's 40 now and it never happened again, I'm not scared of him",
    "my ex used to read my messages. that was 2012 and I'm long free of him",
    "she reads my chats off the cloud backup, we share the icloud family thing and always have",
    "you're allowed to check my phone if it helps",
    "my mum says he'll 'murder me' if I don't sort this out. she's joking",
    "he said I'd regret this forever. he meant losing us, not a threat",
    "if I ever decide to leave, I'll tell you first",
    "do you want to see what happens if we try counselling?",
    "let's try it for a month, then see what happens",
    "there are people who find me funny, believe it or not",
    "should I push him again about the texts?",
    "can I get my keys back, I left them at yours",
    "I call my mum every night so she can see the baby",
    # look-alikes of the eleventh round's forms
    "I'm going to strangle him lol, he ate my leftovers again",
    "my nephew said I'll batter him when he heard, he's nine",
    "I went through his phone once while he was in the shower. I told him the next day",
    "my sister keeps telling me to go through his phone while he sleeps, I won't",
    "how do I get my phone back from her without a row",
    "how do I tell him I read his messages",
    "he made a fake account to see what his ex posts",
    "we made our wills when the twins were born",
    "if a bus hit me tomorrow who would walk the dog",
    "I make sure the kids are asleep before I bring it up, they hear everything",
    "I'm going round to his with the lads to watch the match",
    "if she says 'he's just a friend' again I'm walking into the sea (I live in Leeds)",
    "she's been following her ex's new girlfriend on insta",
    "I slept with a chair wedged under the door handle years ago, that life is long gone",
    "how many of these questions would it take to get to the point",
    "I haven't eaten properly in days, I've just been so busy",
    "I'm allowed to say I'm hurt, right?",
    "I'm ready to end it. The marriage, I mean, I'm fine in myself",
    "if looks could kill I'd be dead twice over after breakfast",
    "she can read my messages whenever, I offered",
    "he threw a chair once when he was 16, long before we met. he's a gentle man now",
    "please don't hurt me like that again by hiding things",
    "can you put the phone down while we talk",
    "we had to put the dog down last spring and he was so kind about it",
    "I found a way out of the phone contract at last",
    "I'm not being here for Christmas, I'm at my mum's",
    "he messages me from his work account sometimes",
    "my ex used to throw stuff at me. I'm five years out and safe",
    "I won't be a problem for you anymore about the gym, I've let it go",
    "if I stop answering for a bit it is because I am driving home",
    "if you don't hear from me by friday, chase me about the plan",
    "he threw the dog a ball and we talked in the park",
    "you pushed me away for months and I let you",
    "I turned location sharing on myself, it's her call whether I keep it on",
    "I've made my arrangements for the trip to see my sister",
    "I need to remove myself from the situation for a day",
    "we had a few days of silence and then a good long talk",
    "she said she could murder me, then burst into tears, and we talked for hours",
    "he said he'd strangle me for hiding it and we both laughed, we're ok",
    "not dangerous, just sulky: he went quiet and watched the football",
    "tonight's the night, I'm finally going to talk to her about the app",
    "I'd rather walk into traffic than sit through that again, kidding",
    "if you'd been reading over my shoulder you'd have seen how it started",
    "my last attempt at explaining went badly, so I want to practise",
    "I'm sorry I hurt you, I'm not going to explain it away",
    "my grandad gave me a box of his old records",
    "I'm sorry I hit you up so late last night",
    "she asked me to take the car keys off her dad, he shouldn't drive",
    "it feels like someone is standing on my chest when I think about it",
    "I'm not going to make him show me his phone, I want honesty",
    "I've been researching ways to rebuild trust after an affair",
    "what's the point of a phone if you never answer it lol",
    "she put the knife down and listened, then we talked for hours",
    "my visa is through his job but he has never threatened me with it",
    "I punched the wall when I read the texts and broke a knuckle, nobody else was there",
    "we agreed my phone stays on the kitchen table at dinner, both of ours do",
    "how cold does the sea get in june, we're going to Cornwall",
    "he chased me round the garden with the hose, we were laughing",
    "you read my diary once too, so let's call it even",
    "she threw the ball at him and the dog went mad",
    "I'm a dead man walking when she sees the phone bill lol",
    "we made the deal that we both share passwords for a month",
    "I keep thinking about just going to bed early and skipping the talk",
    # look-alikes of this round's forms that a review found, said another way
    "please don't break my trust again like that",
    "I'm sorry I pushed you away all winter",
    "I'll shoot her a message tomorrow about the weekend",
    "he's brilliant at dodging questions about his ex",
    "I've decided I'm not going to carry on reading his old chats",
    "I want to commit to being here for the kids, whatever happens with us",
    "if you don't hear from me later it's because I'm at my sister's",
    "we sat on the balcony for hours talking it through",
    "the only way we can stay together is honesty, both ways",
    "I keep an airtag on my keys because I lose them",
    "I rang the hotel to check our booking for the anniversary",
    "he offered to unfollow all the women he used to date",
    "I feel like a prisoner in my own head since I saw the texts",
    "I looked up how tall his ex is, I know, I know",
    # "if" that means whether, a consequence that is only leaving, "a bit", eggshells of guilt
    "I honestly don't know if I can forgive you yet",
    "she always said if I ever lied again she'd leave. fair enough",
    "he said if i ever talk to my ex again he'll leave",
    "I worry that if I bring it up she'll be really hurt",
    "he raised his voice a bit but he never comes near me",
    "I'm walking on eggshells but that's my guilt, not because of her",
    "I just want to disappear under the covers and sleep till Monday",
    "I'll be dead on my feet tomorrow, we were up talking until 3",
    # round twelve's look-alikes
    "I'm going to kill her if she leaves wet towels on the floor again",
    "my sister says just check his phone while he sleeps. I won't, I'd rather ask",
    "I put a tracker on my keys because I lose them every week",
    "I could smash his phone with a hammer. the phone, not him",
    "we had a lesson in the kitchen, he's teaching me to make bread",
    "my phone died so I couldn't text you back, sorry",
    "you know what happened last time we went camping? the tent flooded",
    "I took every tablet of the antibiotic course like the doctor said",
    "I drank a cup of tea and calmed down before I replied",
    "her lemon tart is to die for, I'm bringing one on Sunday",
    "which medicine works fastest for a tension headache?",
    "By rights I should be dead after that motorbike crash in 2009",
    "honestly the only thing i'm cutting is my losses",
    "lol my husband just said 'i'm going to murder you' because i ate the last of his cake",
    "I thought we were going to die of laughter",
])
def test_their_everyday_look_alikes_are_not(text: str) -> None:
    assert not screen(text).is_flagged, screen(text).rule


@pytest.mark.parametrize("text", [
    "My ex used to hit me, but that was years ago and I feel completely safe with Tom",
    "he used to check my phone when we first got together but we stopped years ago and we "
    "laugh about it now",
    "I used to self harm at school. That hasn't been part of my life for years.",
    "i went through a rough patch at 17 and hurt myself, but thats long behind me, ive been "
    "well for ten years",
    "my ex hit me ten years ago in another country. i'm safe, i'm just hurt",
    # A threat told as a joke between them.
    "She told me she'd \"kill me\" if I liked another one of his photos. She was laughing, it's "
    "a running joke",
])
def test_harm_that_is_over_or_a_joke_between_them_is_not_a_risk(text: str) -> None:
    assert not screen(text).is_flagged, screen(text).rule


@pytest.mark.parametrize("text", [
    "She told me she'd kill me if I liked another photo. She wasn't laughing.",
    "He said he'd kill me if I texted her again. He was laughing.",  # laughter is no joke
    "my ex used to hit me. i'm safe but i'm not allowed to leave without his permission now",
    "he's smothering me with a pillow when he's drunk",
])
def test_the_same_words_with_danger_in_them_still_are(text: str) -> None:
    assert screen(text).is_flagged


@pytest.mark.parametrize("text", [
    "I used to self harm at school and I'm in a good place, but lately I'm thinking about it "
    "again",
    "My ex used to hit me years ago. I feel safe with Tom but my ex is outside again tonight",
])
def test_harm_that_is_over_yields_to_anything_now(text: str) -> None:
    assert screen(text).is_flagged


@pytest.mark.parametrize("text", [
    "I asked if I could see my mum on Sunday and he said we'd see if I'd earned it",
    "if I talk to anyone about it he'll leave and take the kids with him",
    "if I see my friends he'll be devastated, and then he doesn't let me sleep all night",
    "if I don't answer within ten minutes she'll be upset and then she takes my car keys",
])
def test_a_consequence_held_over_me_is_asked_about(text: str) -> None:
    assert screen(text).category == "coercive_control", screen(text).rule


def test_a_named_consequence_if_i_speak_up_is_a_clear_risk() -> None:
    result = screen("he said if I tell anyone about the texts he'll take the kids")
    assert (result.risk, result.category) == ("risk", "coercive_control"), result.rule


@pytest.mark.parametrize("text", [
    "he shouts sometimes but he has never touched me, I feel safe",
    "she gets angry. she never so much as touch me. i have been safe with her always",
])
def test_feeling_safe_clears_an_unsure_sign_of_violence(text: str) -> None:
    assert not screen(text).is_flagged, screen(text).rule


@pytest.mark.parametrize(("text", "category"), [
    # Safety of the body says nothing about who holds the phone.
    ("My husband isn't violent, I'm safe. He just says if I ever text Tom again he'll find "
     "Tom", "coercive_control"),
    # A "but" after it takes it back.
    ("i feel safe with him but not safe in my head. keep thinking about driving into the "
     "motorway barrier", "self_harm"),
    ("I'm safe as long as I don't bring up the messages. if I do, he gets rough", None),
])
def test_a_reassurance_does_not_clear_what_it_does_not_speak_to(text: str,
                                                                 category: str | None) -> None:
    result = screen(text)
    assert result.is_flagged, result.rule
    assert category is None or result.category == category, result.rule


# --------------------------------------------------------------------------- negatives

IDIOMS = [
    "this is killing me",
    "he told me \"you're suffocating me\" when i asked who she was. how do i answer that",
    "safe, yes. scared of losing her, yes. scared of her, no.",
    "I'm killing myself at the gym every morning so I don't have to think about it",
    "she's going to murder me when she sees i forgot to delete the app. not literally, she's "
    "the calmest person i know",
    "I'm dying to know",
    "he hit the gym",
    "she hit me with the news",
    "I could kill for a coffee",
    "my phone died",
    "she's killing it at work",
    "he blew up my phone with messages",
    "I'm dead tired",
    "I want to track our progress",
    "we share a location app for the kids' pickup and both agreed",
    "it kills me that he lied about it",
    "he hit me up at 2am saying sorry",
    "she stabbed me in the back by messaging him",
    "That movie choked me up",
    "she beat me to it",
    "he shot me a look when I mentioned her name",
    "i killed myself laughing at his text lol",
    "i need to cut myself some slack",
    "i ran 5 kms to clear my head",
    "that's odd, he never mentioned her",
    "my therapist says i need to speak up",
    "he threw shade at me in front of his friends",
    "this argument is going to be the death of me",
    "I want to disappear for a weekend and just think",
]

EVERYDAY_WORRIES = [
    "he flirts with the barista every morning",
    "he's been messaging his ex",
    "She still has Tinder on her phone",
    "I feel hurt and stupid",
    "I'm so angry I can't think straight",
    "I feel so jealous and I hate it",
    "I checked his phone and found texts to a girl from work",
    "I went through his phone last night",
    "he won't let me see his messages",
    "he hides his phone from me",
    "we agreed to share locations after what happened, it was my idea",
    "I'm scared he'll leave me if I bring it up",
    "i'm afraid of losing him",
    "I'm terrified of being cheated on again",
    "I'm nervous about how she'll react when I mention the app",
    "he got defensive when I asked",
    "she threatened to leave if I keep bringing it up",
    "he said he'd delete the app",
    "he took the kids to his mom's for the weekend",
    "she took my car to work since hers is in the shop",
    "he manages our budget and I'm fine with it",
    "I want to end things with him",
    "i'm not sure i want to keep going with this relationship",
    "I can't do this anymore, the secrecy is exhausting",
    "you really hurt me",
    "I know you may not have intended to hurt me, but this is affecting my trust.",
    "he punched the air when his team won",
    "he was hitting on a girl at the bar",
    "she pushed me to go to couples therapy",
    "he pushed me away emotionally",
    "she cut me off mid sentence",
    "he's stalking his ex on instagram",
]

NEGATED = [
    "he has never hit me",
    "He has never hit me. He's just on his phone all the time.",
    "I'm not suicidal",
    "I'm not suicidal, just really sad",
    "I don't want to hurt myself",
    "i would never hurt myself",
    "he would never hurt me physically, it's more the lying",
    "he's never laid a hand on me",
    "she would never hit me",
    "he's not abusive, just secretive",
    "she cried and said she'd never meant to hurt me",
]


@pytest.mark.parametrize("text", IDIOMS)
def test_idioms_not_flagged(text: str) -> None:
    _not_flagged(text)


@pytest.mark.parametrize("text", EVERYDAY_WORRIES)
def test_everyday_worries_not_flagged(text: str) -> None:
    _not_flagged(text)


@pytest.mark.parametrize("text", NEGATED)
def test_negation_not_flagged(text: str) -> None:
    _not_flagged(text)
    assert screen(text).rule.startswith("negated:") or screen(text).rule == "no_match"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("he's never hit me before last night", "violence"),
        ("He hasn't hit me yet but he said he would", "violence"),
        ("he said he'd never hit me again", "violence"),
        ("i'm not saying he never hit me", "violence"),
        ("he'd never hit me, but last night he shoved me hard", "violence"),
        ("I'm not sure I want to live", "self_harm"),
        ("Im not suicidal but I wish I could just not wake up", "self_harm"),
        ("i dont want to hurt myself anymore but i still do", "self_harm"),
    ],
)
def test_negation_that_is_not_negation(text: str, category: str) -> None:
    _flagged_as(text, category)


def test_word_boundaries() -> None:
    for text in ("my therapist is great", "the skillet is hot", "he is a pushover", "rehit me"):
        _not_flagged(text)


# --------------------------------------------------------------------------- normalisation


def test_curly_quotes_and_case() -> None:
    assert screen("He\u2019s never hit me before last night.").category == "violence"
    assert not screen("I\u2019m not suicidal").is_flagged
    assert screen("he said he\u2019d kill me").risk == "risk"
    assert screen("He said \u201cI\u2019ll kill you\u201d").category == "violence"
    assert screen("I WANT TO DIE").category == "self_harm"


def test_zero_width_and_control_characters() -> None:
    assert screen("he\u200b hit\x00 me").category == "violence"
    assert screen("i want\tto\r\ndie").category == "self_harm"


@pytest.mark.parametrize(
    "text", ["", " ", "\n\n", "\x00\x01\x02", "😭" * 50, "...", "\ud800", "🙂 ok 🙂"]
)
def test_odd_inputs_do_not_flag_or_raise(text: str) -> None:
    result = screen(text)
    assert result.risk == "none"
    assert result.rule in {"empty", "no_match"}


def test_non_string_inputs_do_not_raise() -> None:
    for value in (None, b"he hit me", 12345, ["he hit me"]):
        result = screen(value)  # type: ignore[arg-type]
        assert result.risk in RISK_LEVELS
    assert screen(b"he hit me").category == "violence"  # type: ignore[arg-type]


def test_huge_input_is_capped_and_fast() -> None:
    filler = "we talked about the dating app and the texts again. " * 2_000  # ~100,000 chars
    start = time.perf_counter()
    assert screen(filler).risk == "none"
    assert screen("he choked me. " + filler).category == "violence"
    # A long message is screened at both ends: a risk at the end of a ramble is found too.
    assert screen(filler + " he choked me.").category == "violence"
    assert time.perf_counter() - start < 2.0


def test_internal_error_fails_to_unsure(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("rules unavailable")

    monkeypatch.setattr(screen_module, "load_rules", broken)
    assert screen("hello").to_dict() == {
        "risk": "unsure", "category": "none", "rule": "screen_error"
    }


# --------------------------------------------------------------------------- priority


def test_priority_self_harm_over_violence_over_coercion() -> None:
    assert screen("he hit me and i want to die").category == "self_harm"
    assert screen("he reads my texts and he slapped me").category == "violence"
    assert screen("he tracks my location and i wish i was dead").category == "self_harm"


def test_definite_risk_beats_unsure_lean() -> None:
    result = screen("he gets really angry and he reads all my messages")
    assert (result.risk, result.category) == ("risk", "coercive_control")


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_valid_result(text: str) -> None:
    result = screen(text)
    assert result.risk in RISK_LEVELS
    assert result.category in CATEGORIES
    assert isinstance(result.rule, str) and result.rule
    assert result.is_flagged == (result.risk != "none")
    assert (result.category == "none") == (result.risk == "none")
    assert screen(text) == result


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["he", "hit", "me", "never", "not", "kill", "myself", "my",
                                 "phone", "i", "want", "to", "die", "dying", "'", "\u2019",
                                 ".", ",", "before", "😭", "\n", "tracks", "location"]),
                max_size=60))
def test_risky_vocabulary_soup_never_raises(words: list[str]) -> None:
    result = screen(" ".join(words))
    assert result.risk in RISK_LEVELS and result.rule != "screen_error"


# --------------------------------------------------------------------------- labelled data


def test_labelled_data_is_well_formed() -> None:
    items = load_labelled(LABELLED)
    assert len(items) >= 150
    texts = [item["text"] for item in items]
    assert len(set(texts)) == len(texts)
    for item in items:
        assert item["category"] in CATEGORIES
        assert item["split"] == assign_split(item["text"]), "split must come from the hash"
    risky = sum(item["category"] != "none" for item in items) / len(items)
    test_share = sum(item["split"] == "test" for item in items) / len(items)
    assert 0.40 <= risky <= 0.50
    assert 0.25 <= test_share <= 0.35
    per_category = Counter(item["category"] for item in items if item["split"] == "test")
    assert all(per_category[c] >= 5 for c in CATEGORIES)


def test_labelled_test_split_meets_targets() -> None:
    figures = evaluate("test", LABELLED)
    print(
        f"\ntest split: recall {figures['recall']:.3f} "
        f"({figures['recalled']}/{figures['risk_items']}), "
        f"false-alarm rate {figures['false_alarm_rate']:.3f} "
        f"({figures['false_alarms']}/{figures['none_items']}), "
        f"category accuracy among recalled {figures['category_accuracy']:.3f} "
        f"({figures['category_correct']}/{figures['recalled']})"
    )
    assert figures["recall"] >= RECALL_TARGET
    assert figures["false_alarm_rate"] <= FALSE_ALARM_LIMIT



def _figures(items: list[dict]) -> tuple[float, float]:
    risky = [screen(item["text"]) for item in items if item["category"] != "none"]
    safe = [screen(item["text"]) for item in items if item["category"] == "none"]
    return (sum(r.is_flagged for r in risky) / len(risky),
            sum(r.is_flagged for r in safe) / len(safe))


@pytest.mark.parametrize("name", ["safety_dev.yaml", "safety_fresh.yaml", "safety_rounds.yaml"])
def test_tuning_sets_meet_targets(name: str) -> None:
    """Tuning sets: the rules were widened from their misses, so passing here guards against
    regressions, not generalisation (their first-contact scores are in their headers; the
    honest figure is the unseen hold-out below)."""
    with open(DATA / name, encoding="utf-8") as fh:
        items = yaml.safe_load(fh)["items"]
    assert len(items) >= 50 and all("split" not in item for item in items)
    assert {item["category"] for item in items} == set(CATEGORIES)
    recall, false_alarms = _figures(items)
    print(f"\n{name}: recall {recall:.3f}, false-alarm rate {false_alarms:.3f}")
    assert recall >= RECALL_TARGET
    assert false_alarms <= FALSE_ALARM_LIMIT


def test_benchmark_reports_median() -> None:
    figures = benchmark(3, LABELLED)
    print(f"\nmedian {figures['median_us']} us per message over {figures['messages']} messages")
    # Generous bound so slow CI machines pass; the real target (<200 us) is in the report.
    assert figures["median_us"] < 1_000


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`coach screen ARGV` with `stdin`: the exit code and stdout (stderr in `.err`)."""

    def run(argv: list[str], stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["screen", *argv])
        captured = capsys.readouterr()
        run.err = captured.err  # type: ignore[attr-defined]
        return code, captured.out

    return run


def test_cli_single_text(_cli) -> None:
    code, out = _cli(["he", "slapped", "me"])
    assert code == 0
    assert out.startswith("risk: violence (violence.")
    assert "slapped" not in out


def test_cli_json_single_text(_cli) -> None:
    code, out = _cli(["--json", "I want to die"])
    assert code == 0
    record = json.loads(out)
    assert record["risk"] == "risk" and record["category"] == "self_harm"
    assert set(record) == {"risk", "category", "rule"}
    assert "die" not in out.replace(record["rule"], "")


def test_cli_stdin_one_result_per_line(_cli) -> None:
    lines = "this is killing me\nhe reads my texts every night\n\nI want to die\n"
    code, out = _cli(["--json"], lines)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [r["category"] for r in records] == ["none", "coercive_control", "none", "self_harm"]
    for secret in ("killing", "texts", "die"):
        assert secret not in "".join(r["risk"] + r["category"] for r in records)


def test_cli_plain_stdin_and_help_and_errors(_cli) -> None:
    code, out = _cli([], "he hit the gym\n")
    assert (code, out) == (0, "none: none (idiom:idiom.hit_the_gym)\n")
    code, out = _cli(["--help"])
    assert code == 0 and "usage: coach screen" in out and "--evaluate FILE" in out
    code, out = _cli(["--bogus"])
    assert code == 2 and out == "" and "usage: coach screen" in _cli.err


def test_cli_evaluate_reports_figures(_cli) -> None:
    code, out = _cli(["--evaluate", str(LABELLED), "train"])
    figures = json.loads(out)
    assert code == 0 and figures["split"] == "train" and 0 <= figures["recall"] <= 1
    code, out = _cli(["--evaluate", "all", str(DATA / "safety_holdout.yaml")])  # either order
    figures = json.loads(out)
    assert code == 0 and (figures["split"], figures["items"]) == ("all", 200)


@pytest.mark.parametrize(("argv", "message"), [
    (["--evaluate"], "give the labelled data file: coach screen --evaluate FILE "
                     "[train|test|all]"),
    (["--evaluate", "test"], "give the labelled data file: coach screen --evaluate FILE "
                             "[train|test|all]"),
    (["--benchmark"], "give the labelled data file: coach screen --benchmark FILE"),
    (["--evaluate", "{tmp}/missing.yaml"], "{tmp}/missing.yaml: no such file"),
    (["--benchmark", "{tmp}/bad.yaml"], "{tmp}/bad.yaml: not labelled data (a mapping with a "
                                        "non-empty `items:` list, each with text and category)"),
    (["--evaluate", "{tmp}/broken.yaml"], "{tmp}/broken.yaml: cannot read labelled data: "),
])
def test_cli_labelled_data_must_be_given_and_usable(argv: list[str], message: str,
                                                     tmp_path: Path, _cli) -> None:
    """The labelled data is test data, in the repository only: the CLI never looks for it."""
    (tmp_path / "bad.yaml").write_text("items: []\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("items: [oops\n", encoding="utf-8")
    code, out = _cli([word.format(tmp=tmp_path) for word in argv])
    assert code == 2
    [line] = out.splitlines()
    assert line.startswith("coach screen: " + message.format(tmp=tmp_path)), line


def test_holdout_is_unseen_and_keeps_its_measured_floor() -> None:
    """tests/data/safety_holdout.yaml was scored once and never tuned on (see its header).

    Its first score was recall 82.5%, false alarms 2.5%; this guards that floor (a little
    below it) so a rule change cannot quietly make the screen worse on unseen wording.
    """
    with open(DATA / "safety_holdout.yaml", encoding="utf-8") as fh:
        items = yaml.safe_load(fh)["items"]
    assert len(items) == 200
    seen = set()
    for name in ("safety_labelled.yaml", "safety_dev.yaml", "safety_fresh.yaml",
                 "safety_rounds.yaml"):
        with open(DATA / name, encoding="utf-8") as fh:
            seen |= {item["text"] for item in yaml.safe_load(fh)["items"]}
    assert not seen & {item["text"] for item in items}
    recall, false_alarms = _figures(items)
    print(f"\nhold-out: recall {recall:.3f}, false-alarm rate {false_alarms:.3f}")
    assert recall >= 0.80
    assert false_alarms <= FALSE_ALARM_LIMIT


def test_cli_never_repeats_an_unknown_option(_cli) -> None:
    """It may be the start of a message: `coach screen -he hit me` must not echo it."""
    for argv in (["he", "-slapped", "me"], ["-he", "slapped", "me"], ["--json=slapped"]):
        code, out = _cli(argv)
        assert code == 2 and out == ""
        assert "put -- before text that starts with '-'" in _cli.err
        assert "slapped" not in _cli.err and "'e'" not in _cli.err
    code, out = _cli(["--", "-he", "slapped", "me"])
    assert code == 0 and out.startswith("risk: violence")


def test_cli_options_may_follow_the_text(_cli) -> None:
    code, out = _cli(["he", "--json", "slapped", "me"])
    assert code == 0 and json.loads(out)["category"] == "violence"


def test_cli_evaluate_takes_one_file(_cli, tmp_path: Path) -> None:
    code, out = _cli(["--evaluate", str(LABELLED), str(LABELLED)])
    assert code == 2
    assert out == "coach screen: --evaluate FILE [train|test|all] takes one file\n"


def test_the_command_line_screens_for_a_role_and_a_context(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    text = "you also go through my phone"
    assert main(["screen", "--", text]) == 0
    assert capsys.readouterr().out.startswith("risk: coercive_control")
    assert main(["screen", "--role", "crossed", "--context", "rehearsal", "--", text]) == 0
    assert capsys.readouterr().out.startswith("none: none (rehearsed_deflection:")


# -- the learned stage -----------------------------------------------------------------------------

VEILED = "he has my car and bank card until I prove myself to him"


def test_the_learned_stage_asks_gently_about_wording_the_rules_missed() -> None:
    from bot.safety.screen import shipped_learned

    learned = shipped_learned()
    assert learned is not None
    assert screen(VEILED).rule == "no_match"
    result = screen(VEILED, None, learned=learned)
    assert (result.risk, result.category) == ("unsure", "coercive_control")
    assert result.rule.startswith("learned.coercive_control:")


@pytest.mark.parametrize("text", [
    "honestly this whole thing is killing me slowly",  # an idiom the rules masked
    "she has never laid a finger on me, she just texts other guys",  # negated
    "Finish",  # too short to read
    "can we talk tonight about the messages from Sam",
])
def test_what_the_rules_cleared_or_a_calm_line_stays_clear(text: str) -> None:
    from bot.safety.screen import shipped_learned

    assert not screen(text, None, learned=shipped_learned()).is_flagged


NEGATED_THEN_CONTROL = ("she doesn't hurt me. she just makes me write a timetable of my day and "
                        "checks it against where my phone was")


def test_a_negation_clears_its_own_words_not_the_rest_of_the_message() -> None:
    """"She doesn't hurt me" rules out a word of violence; the control told after it is read
    by the learned stage, as a whole, as any message is."""
    from bot.safety.screen import cleared_by_words, shipped_learned

    learned = shipped_learned()
    words = screen(NEGATED_THEN_CONTROL)
    assert cleared_by_words(words) and words.rule.startswith("negated:violence.")
    result = screen(NEGATED_THEN_CONTROL, None, learned=learned)
    assert (result.risk, result.category) == ("unsure", "coercive_control")
    weaker = dataclasses.replace(learned, threshold=float(result.rule.split(":")[1]) + 0.1,
                                 close=0.0, sentence_lead=9.0, spelling_lead=9.0)
    assert screen(NEGATED_THEN_CONTROL, None, learned=weaker) == words  # short of the lead
    # ... and only the whole is read: its sentences and spelling would find the cleared words
    assert screen(NEGATED_THEN_CONTROL, None, learned=dataclasses.replace(
        weaker, sentence_lead=0.01, spelling_lead=0.01, spelling_alike=0.0)) == words


@pytest.mark.parametrize("text", [
    "he's never hit me", "I'm not going to hurt myself", "I don't want to die",
    "he has never hit me, not once", "she would never hurt me, she isn't like that",
])
def test_a_message_that_says_only_what_the_rules_cleared_stays_cleared(text: str) -> None:
    """A denial, and nothing more, is not read again: whatever the examples make of its
    words, the person said they are not so (a check-in would answer what was not said)."""
    from bot.safety.screen import shipped_learned
    from bot.setting import Setting

    for setting in (Setting("hurt", "safety_question"), Setting("crossed", "chat")):
        result = screen(text, None, setting, learned=dataclasses.replace(
            shipped_learned(), threshold=0.0, close=0.0, agree=0))
        assert not result.is_flagged and result.rule.startswith(("negated:", "reassured:"))


# (Session 10's examples read the story this test had before, a blade held "most nights since
# then", as a risk whole; this one still averages its one sentence away.)
BURIED = ("We've been together eleven years and have two girls. In March I found he'd been "
          "messaging a woman from his five-a-side team, nothing physical he says. We had a long "
          "talk in the garden and agreed to try counselling. Some nights I stand at the edge of "
          "the platform a bit too long. Anyway, how do I raise the messages again?")


def test_a_risk_in_one_sentence_of_a_long_story_is_read(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The whole story's average reads as safe; one sentence of it does not."""
    from bot.cli import main
    from bot.safety.screen import shipped_learned

    learned = shipped_learned()
    assert screen(BURIED).rule == "no_match" and learned.leans_away(BURIED, "none") is None
    result = screen(BURIED, None, learned=learned)
    assert (result.risk, result.category) == ("unsure", "self_harm")
    assert not screen(BURIED, None, learned=dataclasses.replace(
        learned, sentence_lead=0.0)).is_flagged  # 0 turns it off
    assert main(["screen", "--json", "--explain", "--", BURIED]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["learned"]["why"].startswith("it decided: one sentence of it reads as a risk")
    assert BURIED not in json.dumps(out)  # examples are shown, never the screened message


SPELT_ALIKE = ("found bumble on his phone, asked him about it, next thing i know im on the "
               "bathroom floor")


def test_a_message_spelt_like_risky_examples_is_checked_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The weights average "next thing I know I'm on the floor" away; the examples spelt
    most like it are risks of violence, and they are the reason shown."""
    from bot.cli import main
    from bot.safety.screen import shipped_learned

    learned = shipped_learned()
    assert screen(SPELT_ALIKE).rule == "no_match"
    assert learned.leans_away(SPELT_ALIKE, "none") is None
    result = screen(SPELT_ALIKE, None, learned=learned)
    assert (result.risk, result.category) == ("unsure", "violence")
    assert not screen(SPELT_ALIKE, None, learned=dataclasses.replace(
        learned, spelling_lead=0.0)).is_flagged  # 0 turns it off
    assert not screen(SPELT_ALIKE, None, learned=dataclasses.replace(
        learned, spelling_alike=0.99)).is_flagged  # the nearest must be that alike
    assert main(["screen", "--json", "--explain", "--", SPELT_ALIKE]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["learned"]["why"].startswith("it decided: the 10 examples spelt most like it")
    assert out["learned"]["nearest"][0]["category"] == "violence"
    assert SPELT_ALIKE not in json.dumps(out)


@pytest.mark.parametrize("text", ["I'm safe right now", "I’M SAFE RIGHT NOW",
                                  "we're fine, honestly, just sad"])
def test_a_short_reassurance_is_not_spelt_into_a_risk(text: str) -> None:
    """A few words share most of their n-grams with "it's me I'm not safe from right now"."""
    from bot.safety.screen import shipped_learned

    assert not screen(text, None, learned=shipped_learned()).is_flagged


def test_an_idiom_the_rules_masked_stays_clear_whatever_it_resembles() -> None:
    from bot.safety.screen import cleared_by_words, shipped_learned

    learned = dataclasses.replace(shipped_learned(), overrule=0.01, threshold=0.01)
    for text in ("break a leg tonight", "break a leg tonight, you'll smash it"):
        result = screen(text, None, learned=learned)
        assert result.rule == "idiom:idiom.break_a_leg" and not cleared_by_words(result)


def test_explain_says_when_the_learned_stage_read_past_a_negation(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["screen", "--json", "--explain", "--", NEGATED_THEN_CONTROL]) == 0
    why = json.loads(capsys.readouterr().out)["learned"]["why"]
    assert why.startswith("it decided: the rules cleared its words (negated:violence.")
    assert main(["screen", "--json", "--explain", "--",
                 "she has never laid a finger on me, she just texts other guys"]) == 0
    why = json.loads(capsys.readouterr().out)["learned"]["why"]
    assert why.startswith("it did not act: the rules cleared its words (negated:")


def test_explain_says_a_bare_denial_is_not_read_again(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["screen", "--json", "--explain", "--", "I'm not going to hurt myself"]) == 0
    why = json.loads(capsys.readouterr().out)["learned"]["why"]
    assert why == ("it did not read it: the rules cleared its words "
                   "(negated:self_harm.kill_myself), and it says nothing more")


def test_explain_names_the_nearest_examples_never_the_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["screen", "--json", "--explain", "--", VEILED]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["risk"] == "unsure" and out["learned"]["leans_to"] == "coercive_control"
    assert len(out["learned"]["nearest"]) == 3 and VEILED not in json.dumps(out)
    assert main(["screen", "--rules-only", "--", VEILED]) == 0
    assert capsys.readouterr().out.startswith("none: none (no_match)")


@pytest.mark.parametrize(("text", "fired", "named"), [
    ("if i ever see you in that girls comments again i swear ill slash your tyres and then "
     "your face", "coercive_control", "violence"),
    ("I'm safe with him. I'm not safe alone in the house with all his prescriptions though. "
     "I keep counting them.", "violence", "self_harm"),
    ("my bf logs into my bank app to check where i've spent money since i was caught texting "
     "my ex. i gave him the login when he was screaming at me at 3am", "violence",
     "coercive_control"),
])
def test_a_flag_is_named_by_what_the_whole_message_reads_as(text: str, fired: str,
                                                             named: str) -> None:
    """A rule knows a way of saying; the help shown must fit what the message is about."""
    from bot.safety.screen import RENAMED, shipped_learned

    learned = shipped_learned()
    words = screen(text)
    assert words.is_flagged and words.category == fired
    result = screen(text, None, learned=learned)
    assert (result.risk, result.category) == (words.risk, named)
    assert result.rule == f"{words.rule}{RENAMED}{named}"
    kept = screen(text, None, learned=dataclasses.replace(learned, rename_lead=0.0))
    assert kept == words  # 0 turns it off


def test_a_flag_the_whole_message_agrees_with_keeps_its_name(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main
    from bot.safety.screen import shipped_learned

    text = "he checks my phone every night and makes me hand it over"
    assert screen(text, None, learned=shipped_learned()) == screen(text)
    renamed = ("if i ever see you in that girls comments again i swear ill slash your tyres "
               "and then your face")
    assert main(["screen", "--json", "--explain", "--", renamed]) == 0
    why = json.loads(capsys.readouterr().out)["learned"]["why"]
    assert why.startswith("the rules decided (coercive_control.")
    assert why.endswith("over coercive_control, with a nearest example of it, so it is named "
                        "violence")


def test_words_in_a_language_the_rules_cannot_read_are_never_a_silent_pass() -> None:
    from bot.safety.screen import unread
    from bot.setting import Setting

    spanish = Setting(language="es")
    result = screen("anoche vio los mensajes y se puso como loco", None, spanish)
    assert result.risk == "unsure" and unread(result) and result.rule == "unread_language:es"
    assert not screen("🙂", None, spanish).is_flagged  # nothing to read, nothing to judge
    assert not screen("18:30", None, spanish).is_flagged  # a time holds no words
    english_words = screen("I want to kill myself", None, spanish)
    assert english_words.risk == "risk" and not unread(english_words)  # what it can read, it judges
    assert not unread(screen("me pegó anoche", None, Setting(language="en")))


def test_the_settings_english_markers_never_clear_a_language_they_cannot_read() -> None:
    """A flag in Spanish stands, or the words are asked about directly: never a silent pass
    because "no sé" begins like a commitment ("No more secrets")."""
    from bot.safety.screen import shipped_learned, unread
    from bot.setting import Setting

    text = "no sé qué hacer con todo esto"
    for context in ("boundary", "reflection", "chat"):
        result = screen(text, None, Setting("hurt", context, language="es"), shipped_learned())
        assert result.is_flagged, context
    english = screen("No more secrets, I will tell her everything", None,
                     Setting("crossed", "boundary"), shipped_learned())
    assert not english.is_flagged and not unread(english)


@pytest.mark.parametrize(("text", "risk", "category"), [
    # the clearest words for self-harm and for being hit: a clear risk, as "I want to kill
    # myself" and "he hit me" are, so the help shows at once, not a question
    ("quiero matarme, ya no puedo más", "risk", "self_harm"),
    ("me voy a suicidar", "risk", "self_harm"),
    ("ya decidí quitarme la vida, perdón", "risk", "self_harm"),
    ("mi novio me pega cuando bebe", "risk", "violence"),
    ("me pegó en la cara", "risk", "violence"),
    ("ayer me golpeó otra vez", "risk", "violence"),
    ("me dio una bofetada delante de su mamá", "risk", "violence"),
    # the rest of the plainest words: asked about gently, in their own category
    ("quiero morirme, ya no puedo más", "unsure", "self_harm"),
    ("me corté anoche otra vez", "unsure", "self_harm"),
    ("me empujó contra la puerta", "unsure", "violence"),
    ("tengo miedo de él", "unsure", "violence"),
    ("me revisa el celular todas las noches", "unsure", "coercive_control"),
    ("no me deja salir con mis amigas", "unsure", "coercive_control"),
])
def test_the_plainest_spanish_for_each_danger_is_read_in_its_category(
        text: str, risk: str, category: str) -> None:
    from bot.setting import Setting

    result = screen(text, None, Setting(language="es"))
    assert (result.risk, result.category) == (risk, category), result.rule


@pytest.mark.parametrize("text", [
    "me voy a matar estudiando para el final",
    "me quiero matar jajaja qué oso",
    "no quiero matarme, solo quiero que esto pare",
    "me pegó un grito horrible",
    "se me pega esa canción",
    "me golpeó la realidad cuando vi los chats",
    "me pega la nostalgia cuando veo sus fotos",
    "me dio un golpe de suerte",
    "nunca me pegó, solo grita",
])
def test_spanish_figures_of_speech_are_no_clear_risk(text: str) -> None:
    from bot.setting import Setting

    result = screen(text, None, Setting(language="es"))
    assert result.risk != "risk" and ".es_plain" not in result.rule, result.rule


@pytest.mark.parametrize("text", [
    "mi novio no me pega, solo grita",
    "nunca me pegó",
    "me quiero morir de la vergüenza, mi suegra vio los chats",
    "me quiero morir jajaja me mandó un audio que era para su ex",
    "no quiero vivir revisando su teléfono",
    "me pegó fuerte lo del snap, no me lo esperaba",
    "me corté el pelo ayer",
])
def test_their_spanish_look_alikes_are_only_the_general_question(text: str) -> None:
    from bot.safety.screen import unread
    from bot.setting import Setting

    assert unread(screen(text, None, Setting(language="es")))
