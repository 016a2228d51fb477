"""Hypothesis settings and strategies of bad input, shared by both Python environments.

Only the standard library and hypothesis: the Rasa-side tests (Python 3.10)
and the bot's (Python 3.11) use the same module. Protocol-specific strategies
build on these (``tests/bot/im_strategies.py``, the channel and import tests).

Profiles: ``HYPOTHESIS_PROFILE=ci`` runs every property with
:data:`PROFILE_SCALES` ``["ci"]`` times its examples, ``quick`` a fifth of
them; unset (``default``) runs the counts written at each test.
"""

from __future__ import annotations

import json
import operator
import os
from typing import Any, Dict

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples of each property relative to the count written at the test.
PROFILE_SCALES: Dict[str, float] = {"quick": 0.2, "default": 1.0, "ci": 5.0}
#: The environment variable naming the profile (hypothesis's own convention).
PROFILE_ENV = "HYPOTHESIS_PROFILE"

#: Hypothesis settings of the properties: bounded run time, no example
#: database written into the checkout, one shared fixture per test.
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

for _name, _scale in PROFILE_SCALES.items():
    settings.register_profile(_name, FUZZ, max_examples=max(1, round(100 * _scale)))


def profile() -> str:
    """Return the active profile's name (``default`` when unset or unknown)."""
    name = os.environ.get(PROFILE_ENV, "default")
    return name if name in PROFILE_SCALES else "default"


def fuzz(examples: int) -> settings:
    """Return :data:`FUZZ` with ``examples`` scaled by the active profile."""
    return settings(FUZZ, max_examples=max(1, round(examples * PROFILE_SCALES[profile()])))


# -- text ------------------------------------------------------------------------

#: Lone UTF-16 surrogates: JSON may carry them (``"\\ud800"``), UTF-8 cannot.
surrogates = st.characters(categories=["Cs"])

#: Any code point at all: controls, NUL, surrogates, private use, CJK, emoji.
any_characters = st.characters() | st.characters(categories=["Cc", "Co", "Cn"]) | surrogates

#: Text of any characters (joined from a list: ``st.text`` would drop the
#: surrogates of a mixed alphabet).
any_text = st.lists(any_characters, max_size=40).map("".join)

#: Huge text: one character repeated, some beyond every body limit.
huge_text = st.builds(
    operator.mul,
    st.sampled_from(["衣", "a", "😀", " ", "\x00", "\ud800", "\n"]),
    st.integers(1_000, 70_000),
)

#: Buyer texts: ordinary, empty, emoji, control characters, lone surrogates,
#: and huge ones (some over any body limit).
texts = st.one_of(
    st.text(max_size=200),
    st.just(""),
    st.text(alphabet=st.sampled_from("😀👍🙏❤️🎉🇨🇳\u200d\ufe0f"), max_size=60),
    any_text,
    st.builds(
        operator.mul, st.sampled_from(["衣", "a", "😀", " ", "\x00"]), st.integers(1_000, 30_000)
    ),
)

# -- JSON ------------------------------------------------------------------------

#: Any JSON value (floats include infinities and NaN, which Python's json
#: writes and reads; strings include lone surrogates, written as escapes).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=12,
)


def encode(value: Any) -> bytes:
    """Return ``value`` as a client would send it: UTF-8 JSON.

    Strings holding lone surrogates cannot be UTF-8: they are written as
    ``\\u`` escapes, as any JSON encoder does. Other values (``Decimal``,
    ``datetime``) are written as their text.
    """
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, default=str).encode("ascii")


#: Bodies that are not JSON, or not UTF-8, or nothing at all.
broken_bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.sampled_from([b"{", b"[" * 5000 + b"]" * 5000, b"\xff\xfe{}", b'{"a": 1,}', b"null"]),
    json_values.map(encode).map(lambda raw: raw[: max(0, len(raw) - 1)]),
)

# -- HTTP headers ------------------------------------------------------------------

#: Characters any HTTP client and server carry unchanged in a header value.
HEADER_CHARACTERS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)

#: Header values as a client may send them: printable ASCII and Latin-1
#: (obs-text), no space (clients refuse a value that starts with one, NBSP too).
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)
    | st.characters(min_codepoint=0xA1, max_codepoint=0xFF),
    max_size=120,
)
