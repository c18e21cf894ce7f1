"""Couple mode's conditions and actions for the flows (flows/pair.yaml, and the ends of
boundaries and needs). They work on this message's shared records, which the pipeline
offers as `services["pairing"]`; where there are none (a flows check), they do nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.flowlang.registry import Registry
from bot.pairing import couple, view
from bot.pairing.shared import SERVICE, Shared, blocked
from bot.pairing.together import SERVICE as TOGETHER
from bot.pairing.together import Together

if TYPE_CHECKING:
    from bot.flowlang.context import StepContext

entries = Registry()
NAME_SLOT, TOPIC_SLOT, PROPOSAL_SLOT = "pair_my_name", "pair_topic", "pair_proposal"


def _parts(ctx: StepContext) -> tuple[Shared, Together] | None:
    shared, together = ctx.services.get(SERVICE), ctx.services.get(TOGETHER)
    if isinstance(shared, Shared) and isinstance(together, Together):
        return shared, together
    return None


@entries.condition("paired", "none", "this person answers together with a partner")
def paired(ctx: StepContext, _: Any) -> bool:
    return bool(ctx.session.pair)


@entries.condition("pair_joining", "none", "this person is accepting an invite")
def pair_joining(ctx: StepContext, _: Any) -> bool:
    return bool(ctx.session.joining)


@entries.condition("pair_blocked", "none", "a violence or control concern is on record: "
                   "no invite can be made or accepted")
def pair_blocked(ctx: StepContext, _: Any) -> bool:
    return blocked(ctx.session)


@entries.condition("pair_paused", "none", "paired, with a violence or control concern on "
                   "record: sharing is paused for this person, the partner is not told why")
def pair_paused(ctx: StepContext, _: Any) -> bool:
    return bool(ctx.session.pair) and blocked(ctx.session)


@entries.condition("pair_has_agreements", "none", "paired, with at least one agreement "
                   "both accepted")
def pair_has_agreements(ctx: StepContext, _: Any) -> bool:
    parts = _parts(ctx)
    rec = couple.record(parts[0], ctx.session) if parts is not None else None
    return rec is not None and bool(rec["agreements"])


@entries.condition("pair_invite_open", "none", "an invite this person made is still open")
def pair_invite_open(ctx: StepContext, _: Any) -> bool:
    return bool(ctx.session.invite)


@entries.condition("pair_can_show", "text", "both finished this topic and this person has "
                   "not tapped \"Show us both\" yet")
def pair_can_show(ctx: StepContext, topic: str) -> bool:
    parts = _parts(ctx)
    return parts is not None and couple.can_show(parts[0], ctx.session, topic)


@entries.condition("pair_revealed", "text", "both tapped \"Show us both\" for this topic")
def pair_revealed(ctx: StepContext, topic: str) -> bool:
    parts = _parts(ctx)
    return parts is not None and couple.revealed(parts[0], ctx.session, topic)


@entries.condition("pair_proposal_for_me", "none", "the partner suggested a change to the "
                   "agreements that waits for this person")
def pair_proposal_for_me(ctx: StepContext, _: Any) -> bool:
    parts = _parts(ctx)
    return parts is not None and couple.proposal_for_me(parts[0], ctx.session) is not None


@entries.action("pair_introduce", "none", "keep the name the inviter chose (or \"your "
                "partner\") in pair_partner", writes=("pair_partner",))
def pair_introduce(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        name = couple.inviter_name(parts[0], ctx.session, parts[1])
        ctx.session.slots["pair_partner"] = view.capital(name)


@entries.action("pair_make_invite", "none", "a new single-use invite (48 hours), named as "
                f"{NAME_SLOT} says; its code is shown once, below the step")
def pair_make_invite(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.make_invite(parts[0], ctx.session, ctx.session.slots.get(NAME_SLOT, ""))


@entries.action("pair_cancel_invite", "none", "the open invite stops working")
def pair_cancel_invite(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.cancel_invite(parts[0], ctx.session)


@entries.action("pair_accept", "none", "join the invite being accepted, if it still can be")
def pair_accept(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.accept(parts[0], ctx.session)


@entries.action("pair_forget_join", "none", "stop accepting the invite")
def pair_forget_join(ctx: StepContext, _: Any) -> None:
    ctx.session.joining = None
    ctx.session.slots.pop("pair_partner", None)


@entries.action("pair_finished", "text", "this person finished a topic (boundaries, needs); "
                "when paired, says their answers stay private until both show them")
def pair_finished(ctx: StepContext, topic: str) -> None:
    parts = _parts(ctx)
    if parts is not None and couple.finish(parts[0], ctx.session, topic) \
            and not couple.revealed(parts[0], ctx.session, topic):
        ctx.say(parts[1].text("kept_private"))


@entries.action("pair_show", "text", "\"Show us both\" for a topic: their answers as they are now")
def pair_show(ctx: StepContext, topic: str) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.show(parts[0], ctx.session, parts[1], topic)


@entries.action("pair_compare", "text", "both sets side by side, or that it waits for the partner")
def pair_compare(ctx: StepContext, topic: str) -> None:
    parts = _parts(ctx)
    if parts is not None:
        for part in view.compare(parts[0], ctx.session, parts[1], topic):
            ctx.say(part)


@entries.action("pair_overview", "none", "where each topic stands for this person")
def pair_overview(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        ctx.say(view.overview(parts[0], ctx.session, parts[1]))


@entries.action("pair_agreements", "none", "the agreements, and a change waiting")
def pair_agreements(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        ctx.say(view.agreements(parts[0], ctx.session, parts[1]))


@entries.action("pair_propose", "none", f"suggest the line in {PROPOSAL_SLOT} for the question "
                f"in {TOPIC_SLOT} (empty: take it off the list); both slots are then cleared")
def pair_propose(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    slots = ctx.session.slots
    slot, text = slots.pop(TOPIC_SLOT, ""), slots.pop(PROPOSAL_SLOT, "")
    if parts is not None and slot in parts[1].slots:
        couple.propose(parts[0], ctx.session, slot, text or None)


@entries.action("pair_agree", "none", "accept the partner's suggested change")
def pair_agree(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.answer_proposal(parts[0], ctx.session, True)


@entries.action("pair_decline", "none", "let the partner's suggested change go")
def pair_decline(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.answer_proposal(parts[0], ctx.session, False)


@entries.action("pair_end", "none", "leave the pairing: the shared answers and agreements go")
def pair_end(ctx: StepContext, _: Any) -> None:
    parts = _parts(ctx)
    if parts is not None:
        couple.end(parts[0], ctx.session)
