"""``TextNormalizer``: the first component of the NLU pipeline.

It rewrites the ``text`` of every training example and every incoming message
into the canonical form of :mod:`shopbot_rasa.nlu.text` before SpacyNLP and
JiebaTokenizer see it (button payloads, which start with ``/``, excepted).
Entity annotations of training examples are moved to the normalised text.
The text as typed stays available under ``text_original`` (an output
property, so it appears in the parse result).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from shopbot_rasa.nlu.text import normalize

logger = logging.getLogger(__name__)

#: Message attribute that keeps the text as the buyer typed it.
TEXT_ORIGINAL = "text_original"
#: Button payloads such as ``/provide_order_id{"order_id": "…"}`` are read by
#: Rasa's RegexMessageHandler: their JSON must reach it untouched.
INTENT_TRIGGER = "/"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class TextNormalizer(GraphComponent):
    """Normalise message text (width, script, whitespace, punctuation runs)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component has no options."""
        return {}

    @staticmethod
    def required_packages() -> List[str]:
        """None declared: Rasa checks this list both as import names and as
        distribution names, and OpenCC's differ (``opencc`` is installed by
        ``opencc-python-reimplemented``, pinned in requirements/rasa.lock)."""
        return []

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TextNormalizer:
        """Create the component (it holds no state)."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalise every training example in place; return the data."""
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Normalise incoming messages in place; return them."""
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        """Rewrite one message's text and move its entity annotations."""
        original: Optional[Any] = message.get(TEXT)
        if not isinstance(original, str) or original.startswith(INTENT_TRIGGER):
            return
        normalized = normalize(original)
        if normalized.text == original:
            return
        message.set(TEXT_ORIGINAL, original, add_to_output=True)
        message.set(TEXT, normalized.text)
        entities = message.get(ENTITIES) or []
        moved = []
        for entity in entities:
            span = normalized.span(entity[ENTITY_ATTRIBUTE_START], entity[ENTITY_ATTRIBUTE_END])
            if span is None:
                logger.warning("entity %r vanished in normalisation of %r", entity, original)
                continue
            moved.append({**entity, ENTITY_ATTRIBUTE_START: span[0], ENTITY_ATTRIBUTE_END: span[1]})
        if entities:
            message.set(ENTITIES, moved)
