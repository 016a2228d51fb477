"""A stand-in for Rasa's dialogue around claims, and what a buyer may expect of it.

:class:`FakeDialogue` plays the part of the Rasa server for the claim flow:
the intents and order ids of the buyer's messages are given (no NLU), the
slots are kept per conversation as Rasa keeps them (only the actions set
them), and the rules of ``data/stories`` pick the call into
:mod:`bot.conversation`: a problem or question → :func:`~bot.conversation.answer`;
``affirm``/``deny`` while ``awaiting`` a claim confirmation →
:func:`~bot.conversation.confirm_claim` / :func:`~bot.conversation.decline_claim`;
otherwise ``utter_anything_else``. So the database, the policy and the
conversation logic are the real ones, and a property can run hundreds of
conversations in seconds.

:func:`check_claims` is the buyer's view of the contract: when the bot's
latest question was "open a claim on order X?" and the buyer says yes, order
X has a claim afterwards; a yes to nothing opens nothing; every order gets at
most one claim, opened once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from hypothesis import strategies as st
from sqlalchemy import delete, select

from bot import conversation
from bot.auth import Identity
from bot.conversation import AWAIT_CLAIM, Reply, Turn
from bot.db.models import Claim, ClaimEvent
from bot.db.session import session_scope
from bot.im_protocol import InboundMessage
from bot.settings import Settings

BUYER = Identity("buyer_001", "buyer")
#: buyer_001's demo orders the scripts talk about (data/demo/orders.yaml),
#: one of buyer_002's (answered as unknown) and one that does not exist.
ORDERS = (
    "2026111000001",  # general, completed 11-16: W1 open (claims allowed)
    "2026100300002",  # general, completed 10-10: W1 closed
    "2026092100003",  # durable 三包, completed 09-25
    "2026101800004",  # nondurable 三包, completed 10-25
    "2026112100009",  # shipped
    "2026111900011",  # delivered
    "2026110500101",  # buyer_002's
    "2026000000000",  # nobody's
)
PROBLEMS = ("size_issue", "quality_issue", "return_goods", "query_order", "after_sales_period")
#: Responses that ask the buyer to confirm a claim (their ``order_id`` value names the order).
QUESTIONS = ("utter_offer_claim", "utter_claim_confirm_again")
#: Answers to a confirmation that leave the order with its claim.
CLAIMED = ("utter_claim_opened", "utter_claim_exists")


@dataclass(frozen=True)
class Said:
    """One buyer message of a script.

    Attributes:
        intent: A problem or question (:data:`PROBLEMS`), ``affirm`` or ``deny``.
        order_id: The order id entity, if the message names one.
    """

    intent: str
    order_id: Optional[str] = None

    @property
    def text(self) -> str:
        """The message as typed (ASCII: it carries no cue of the policy's)."""
        return " ".join(part for part in (self.intent, self.order_id) if part)

    @classmethod
    def parse(cls, text: str) -> Said:
        """Read a message back from its text."""
        intent, _, order_id = text.partition(" ")
        return cls(intent, order_id or None)


#: A problem or question, about a named order or none.
asked = st.builds(Said, st.sampled_from(PROBLEMS), st.none() | st.sampled_from(ORDERS))
#: One buyer message: questions, and yes (often) or no to what the bot asked.
said = st.one_of(
    asked, asked, st.just(Said("affirm")), st.just(Said("affirm")), st.just(Said("deny"))
)
#: A claim talked over: a problem with an order, digressions (other orders,
#: unknown ones, none), then yes or no, maybe twice, maybe neither.
episodes = st.tuples(
    st.builds(Said, st.sampled_from(PROBLEMS[:3]), st.sampled_from(ORDERS[:6])),
    st.lists(asked, max_size=2),
    st.lists(st.sampled_from([Said("affirm"), Said("affirm"), Said("deny")]), max_size=2),
).map(lambda parts: [parts[0], *parts[1], *parts[2]])


def _flat(parts: List[List[Said]]) -> List[Said]:
    return [message for part in parts for message in part]


def scripts_of(conversations: int, parts: int) -> st.SearchStrategy[List[List[Said]]]:
    """Scripts of 1 to ``conversations`` conversations of buyer_001, each of 1
    to ``parts`` episodes and stray messages."""
    return st.lists(
        st.lists(episodes | st.lists(said, min_size=1, max_size=2), min_size=1, max_size=parts).map(
            _flat
        ),
        min_size=1,
        max_size=conversations,
    )


#: Scripts of 1-3 conversations of 1-3 parts.
scripts = scripts_of(3, 3)


@dataclass
class Step:
    """One processed message and the bot's answer.

    Attributes:
        msg_id: The message.
        said: What the buyer said.
        responses: The responses (name, values) of the answer, in order.
    """

    msg_id: str
    said: Said
    responses: List[Tuple[str, Dict[str, Any]]]


@dataclass
class FakeDialogue:
    """Rasa's part in the claim flow, over the real ``bot.conversation``.

    Attributes:
        settings: The bot's settings (database, today).
        slots: The slots of each conversation.
        said: The buyer's texts of each conversation.
        transcripts: What was processed, per conversation, in order.
        unavailable: How many coming calls answer 503 (nothing processed).
    """

    settings: Settings
    slots: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    said: Dict[str, List[str]] = field(default_factory=dict)
    transcripts: Dict[str, List[Step]] = field(default_factory=dict)
    unavailable: int = 0

    def reply(self, conversation_id: str, message: Said) -> Reply:
        """Answer one message as the rules would, and keep the slots."""
        slots = self.slots.setdefault(conversation_id, {})
        texts = self.said.setdefault(conversation_id, [])
        texts.append(message.text)
        turn = Turn(
            who=BUYER,
            intent=message.intent,
            said=tuple(texts),
            order_id=message.order_id,
            known_order_id=slots.get("order_id"),
            problem=slots.get("problem"),
            awaiting=slots.get("awaiting"),
            order_misses=int(slots.get("order_misses") or 0),
            conversation_id=conversation_id,
            channel="im",
        )
        if message.intent in ("affirm", "deny"):
            if turn.awaiting != AWAIT_CLAIM:
                return Reply((conversation.Message("utter_anything_else"),))
            if message.intent == "affirm":
                result = conversation.confirm_claim(self.settings, turn)
            else:
                result = conversation.decline_claim(turn)
        else:
            result = conversation.answer(self.settings, turn)
        slots.update(result.slots)
        return result

    def run(self, conversation_id: str, msg_id: str, message: Said) -> List[Dict[str, Any]]:
        """Process one message; record it; return the bot's messages."""
        result = self.reply(conversation_id, message)
        responses = [(m.response, dict(m.values)) for m in result.messages]
        self.transcripts.setdefault(conversation_id, []).append(Step(msg_id, message, responses))
        return [{"recipient_id": f"im:{conversation_id}", "text": name} for name, _ in responses]

    def __call__(self, message: InboundMessage) -> Tuple[int, Optional[List[Dict[str, Any]]]]:
        """Answer the IM worker's question (:data:`bot.outbox.Ask`)."""
        if self.unavailable > 0:
            self.unavailable -= 1
            return 503, None
        reply = self.run(message.conversation_id, message.msg_id, Said.parse(message.text))
        return 200, reply


def forget_claims(url: str) -> None:
    """Remove the claims (and their events) on :data:`ORDERS`."""
    with session_scope(url) as session:
        ids = select(Claim.id).where(Claim.order_id.in_(ORDERS))
        session.execute(delete(ClaimEvent).where(ClaimEvent.claim_id.in_(ids)))
        session.execute(delete(Claim).where(Claim.order_id.in_(ORDERS)))


def stored_claims(url: str) -> List[str]:
    """Return the order ids of the claims on :data:`ORDERS` (one entry per claim)."""
    with session_scope(url) as session:
        return list(session.scalars(select(Claim.order_id).where(Claim.order_id.in_(ORDERS))))


def check_claims(transcripts: Dict[str, List[Step]], claims: List[str]) -> None:
    """Check the buyer's view of the claims against what the database holds.

    Args:
        transcripts: Each conversation's processed messages, in order.
        claims: The order ids of the stored claims (one entry per claim).
    """
    opened: List[str] = []
    confirmed: List[str] = []
    for conversation_id, steps in transcripts.items():
        asked: Optional[str] = None  # the order of the latest confirmation question
        for step in steps:
            names = [name for name, _ in step.responses]
            where = (conversation_id, step.msg_id, step.said, step.responses)
            if step.said.intent == "affirm":
                if asked is None:
                    assert not set(names) & {"utter_claim_opened", "utter_claim_exists"}, where
                else:
                    assert names and names[0] in CLAIMED, where
                    assert step.responses[0][1]["claim_no"] == f"AS{asked}", where
                    confirmed.append(asked)
            opened += [v["claim_no"][2:] for n, v in step.responses if n == "utter_claim_opened"]
            questions = [values["order_id"] for name, values in step.responses if name in QUESTIONS]
            if questions:
                asked = questions[-1]
            elif step.said.intent in ("affirm", "deny"):
                asked = None
    assert len(claims) == len(set(claims)), claims  # one claim per order
    assert sorted(opened) == sorted(claims), (opened, claims)  # each opened once, none lost
    assert set(confirmed) <= set(claims), (confirmed, claims)
