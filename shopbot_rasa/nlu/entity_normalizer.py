"""``EntityNormalizer``: entity labels from context and values from text.

It runs after ``SpacyEntityExtractor`` and does two things the EntityRuler's
token patterns cannot:

* **Context.** A long digit string is an order id by default, but after a
  waybill word (快递单号, 运单号, a courier's name …) it is a ``tracking_no``,
  and after a phone word (电话, 手机号 …) it is no entity at all. The context
  words are lookup tables of the training data (``waybill_context``,
  ``phone_context``, ``courier``), read at training time and kept in the model.
* **Values.** ``duration`` gets a number of days and ``amount`` a decimal
  string with two places (:mod:`shopbot_rasa.nlu.quantities`); a duration too
  vague to measure (几天, 半天) is dropped. The text as written stays in
  ``additional_info["text"]``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from shopbot_rasa.nlu.quantities import parse_amount, parse_duration

logger = logging.getLogger(__name__)

#: Lookup tables whose phrases mark the number after them as a waybill.
WAYBILL_TABLES = ("waybill_context", "courier")
#: Lookup table whose phrases mark the number after them as a phone number.
PHONE_TABLE = "phone_context"
#: Lookup table of order words: they win over a waybill word they end with
#: (订单号 ends with 单号).
ORDER_TABLE = "order_context"
#: How far before a number its context word may start (characters).
CONTEXT_WINDOW = 12
#: What may stand between a context word and the number.
_GLUE = re.compile(r"[\s:：,，是为的#]*$")
_FILE = "context.json"


def _clean(phrases: Iterable[str]) -> List[str]:
    """Non-empty phrases, longest first (so 快递单号 is tried before 单号)."""
    return sorted({p.strip() for p in phrases if p and p.strip()}, key=lambda p: (-len(p), p))


class EntityContext:
    """Context words that decide what a long digit string is.

    Args:
        waybill: Words after which a number is a waybill.
        phone: Words after which a number is a phone number.
        order: Words after which a number is an order id.
    """

    def __init__(
        self, waybill: Iterable[str] = (), phone: Iterable[str] = (), order: Iterable[str] = ()
    ) -> None:
        self.waybill = _clean(waybill)
        self.phone = _clean(phone)
        self.order = _clean(order)

    @classmethod
    def from_training_data(cls, training_data: TrainingData) -> EntityContext:
        """Collect the context lookup tables of the training data."""
        tables: Dict[str, List[str]] = {}
        for table in training_data.lookup_tables:
            elements = table.get("elements")
            if isinstance(elements, list):
                tables.setdefault(str(table.get("name")), []).extend(map(str, elements))
        waybill = [p for name in WAYBILL_TABLES for p in tables.get(name, [])]
        return cls(waybill, tables.get(PHONE_TABLE, []), tables.get(ORDER_TABLE, []))

    def as_dict(self) -> Dict[str, List[str]]:
        """The word lists, for persisting."""
        return {"waybill": self.waybill, "phone": self.phone, "order": self.order}

    def kind_before(self, text: str, start: int) -> Optional[str]:
        """Which context word (if any) ends right before ``text[start]``.

        Returns:
            ``"waybill"``, ``"phone"``, ``"order"`` or ``None``.
        """
        window = text[max(0, start - CONTEXT_WINDOW) : start]
        window = window[: _GLUE.search(window).start()]  # type: ignore[union-attr]
        best: Optional[str] = None
        best_length = 0
        for kind, words in (
            ("order", self.order),
            ("waybill", self.waybill),
            ("phone", self.phone),
        ):
            for word in words:
                if window.endswith(word) and len(word) > best_length:
                    best, best_length = kind, len(word)
        return best


def relabel_one(
    text: str, entity: Dict[str, Any], context: EntityContext
) -> Optional[Dict[str, Any]]:
    """Apply the context rules to one entity.

    Args:
        text: The message text the entity offsets refer to.
        entity: The entity (not modified).
        context: The context words.

    Returns:
        The entity, relabelled ``tracking_no`` after a waybill word, or
        ``None`` for a number after a phone word; other entities unchanged.
    """
    if entity.get(ENTITY_ATTRIBUTE_TYPE) != "order_id":
        return entity
    kind = context.kind_before(text, int(entity.get(ENTITY_ATTRIBUTE_START, 0)))
    if kind == "phone":
        return None
    if kind == "waybill":
        return {**entity, ENTITY_ATTRIBUTE_TYPE: "tracking_no"}
    return entity


def relabel(
    text: str, entities: Sequence[Dict[str, Any]], context: EntityContext
) -> List[Dict[str, Any]]:
    """Apply :func:`relabel_one` to each entity of a message; drop the ``None`` ones."""
    results = (relabel_one(text, entity, context) for entity in entities)
    return [entity for entity in results if entity is not None]


def with_value(entity: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Give a ``duration`` or ``amount`` entity its normalised value.

    Args:
        entity: One entity; other types are returned unchanged.

    Returns:
        The entity with ``value`` and ``additional_info``, or ``None`` for a
        duration too vague to measure.
    """
    kind = entity.get(ENTITY_ATTRIBUTE_TYPE)
    text = str(entity.get(ENTITY_ATTRIBUTE_VALUE, ""))
    if kind == "duration":
        duration = parse_duration(text)
        if duration is None:
            return None
        info = {
            "text": text,
            "days": duration.as_value(),
            "approximate": duration.approximate,
            "unit": duration.unit,
        }
        return {**entity, ENTITY_ATTRIBUTE_VALUE: duration.as_value(), "additional_info": info}
    if kind == "amount":
        amount = parse_amount(text)
        if amount is None:
            return entity
        info = {"text": text, "currency": "CNY"}
        return {**entity, ENTITY_ATTRIBUTE_VALUE: str(amount), "additional_info": info}
    return entity


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EntityNormalizer(GraphComponent):
    """Relabel digit strings by context and normalise duration/amount values."""

    def __init__(
        self, model_storage: ModelStorage, resource: Resource, context: EntityContext
    ) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self.context = context

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The component has no options (its words come from lookup tables)."""
        return {}

    @staticmethod
    def required_packages() -> List[str]:
        """Python packages the component needs."""
        return ["cn2an"]

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityNormalizer:
        """Create an untrained component (no context words yet)."""
        return cls(model_storage, resource, EntityContext())

    def train(self, training_data: TrainingData) -> Resource:
        """Read the context lookup tables and persist them."""
        self.context = EntityContext.from_training_data(training_data)
        with self._model_storage.write_to(self._resource) as folder:
            (folder / _FILE).write_text(json.dumps(self.context.as_dict(), ensure_ascii=False))
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EntityNormalizer:
        """Load the context words persisted by :meth:`train`."""
        try:
            with model_storage.read_from(resource) as folder:
                words = json.loads((folder / _FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:
            logger.warning("EntityNormalizer: no context words in the model (%s)", error)
            words = {}
        return cls(model_storage, resource, EntityContext(**words))

    def process(self, messages: List[Message]) -> List[Message]:
        """Relabel and normalise the entities of each message; return them."""
        for message in messages:
            entities = message.get(ENTITIES) or []
            if not entities:
                continue
            text = message.get(TEXT) or ""
            normalized = []
            for entity in entities:
                relabelled = relabel_one(text, entity, self.context)
                valued = with_value(relabelled) if relabelled is not None else None
                if valued is None:
                    continue
                if valued != entity:
                    processors = list(valued.get("processors") or [])
                    valued = {**valued, "processors": [*processors, self.__class__.__name__]}
                normalized.append(valued)
            message.set(ENTITIES, normalized, add_to_output=True)
        return messages
