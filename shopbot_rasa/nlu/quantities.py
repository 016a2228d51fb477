"""Values of the ``duration`` and ``amount`` entities: 三天 → 3 days, 九十九块 → 99.00.

Chinese numerals are read by cn2an (``smart`` mode: 两百, 一百二十九点五,
12.5 and mixes); this module only splits a phrase into its number and unit.

* A duration is a number of days (``两个多月`` → about 60 days, ``半年`` → 180,
  ``48小时`` → 2). 多 ("more than") and 几 (十几天) make it approximate. A
  phrase without a number (几天, 好几天, 半天 as "a long while") is vague and
  has no value.
* An amount is a :class:`~decimal.Decimal` with two places (``九十九块`` →
  99.00, ``三块五`` → 3.50, ``¥129`` → 129.00).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Dict, Optional

#: Length of each time unit in days (a month is 30 days, a year 365).
UNIT_DAYS: Dict[str, Decimal] = {
    "分钟": Decimal(1) / Decimal(1440),
    "小时": Decimal(1) / Decimal(24),
    "钟头": Decimal(1) / Decimal(24),
    "天": Decimal(1),
    "日": Decimal(1),
    "周": Decimal(7),
    "星期": Decimal(7),
    "礼拜": Decimal(7),
    "月": Decimal(30),
    "年": Decimal(365),
}

_NUMERAL = "0-9.,点零〇一二两三四五六七八九十百千万"
_DURATION = re.compile(
    rf"^(?P<number>[{_NUMERAL}几]+|半)(?:个)?(?P<more>多)?(?P<half>半)?(?:个)?"
    rf"(?P<unit>{'|'.join(sorted(UNIT_DAYS, key=len, reverse=True))})"
    r"(?P<more_after>多)?(?P<half_after>半)?$"
)
_AMOUNT = re.compile(
    rf"^[¥$]?(?P<number>[{_NUMERAL}]+)(?:多)?"
    r"(?:(?P<unit>元钱|块钱|元|块|rmb|人民币)(?P<tenths>[0-9一二两三四五六七八九])?(?:毛|角)?)?$",
    re.IGNORECASE,
)
_CENTS = Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class Duration:
    """A time span a buyer states.

    Attributes:
        days: Its length in days (fractions for hours).
        approximate: True for "more than" or "a dozen or so" (多, 十几).
        quantity: The number as written, read (两个多月 → 2).
        unit: The unit as written (月).
    """

    days: Decimal
    approximate: bool
    quantity: Decimal
    unit: str

    def as_value(self) -> int | float:
        """The number of days as a JSON number (an int when whole)."""
        whole = self.days.to_integral_value()
        return int(whole) if whole == self.days else float(round(self.days, 3))


def read_number(text: str) -> Optional[Decimal]:
    """Read an Arabic, Chinese or mixed numeral with cn2an; ``None`` if it is none.

    Args:
        text: For example ``九十九``, ``两百``, ``12.5``, ``一千二``.

    Returns:
        The number, or ``None`` when ``text`` is not a numeral.
    """
    import cn2an

    cleaned = text.replace(",", "").replace("，", "")
    if not cleaned:
        return None
    try:
        return Decimal(str(cn2an.cn2an(cleaned, "smart")))
    except (ValueError, KeyError, IndexError, InvalidOperation):
        return None


def parse_duration(text: str) -> Optional[Duration]:
    """Read a duration phrase such as 三天, 两个多月, 半年, 一个半月, 十几天, 48小时.

    Args:
        text: The entity text (spaces are ignored).

    Returns:
        The duration, or ``None`` for a vague or unreadable phrase.
    """
    match = _DURATION.match(re.sub(r"\s+", "", text))
    if match is None:
        return None
    raw = match.group("number")
    approximate = bool(match.group("more") or match.group("more_after"))
    if raw == "半":
        quantity: Optional[Decimal] = Decimal("0.5")
        if match.group("unit") in ("天", "日"):
            return None  # 等了半天: "a long while", not twelve hours
    elif "几" in raw:
        if raw.startswith("几") or raw.count("几") > 1:
            return None  # 几天, 几个月: vague
        approximate = True
        quantity = read_number(raw.replace("几", "五"))  # 十几 → about 15
    else:
        quantity = read_number(raw)
    if quantity is None or quantity <= 0:
        return None
    if match.group("half") or match.group("half_after"):
        quantity += Decimal("0.5")
    unit = match.group("unit")
    return Duration(
        days=quantity * UNIT_DAYS[unit], approximate=approximate, quantity=quantity, unit=unit
    )


def parse_amount(text: str) -> Optional[Decimal]:
    """Read a money phrase such as 九十九块, 99元, ¥129.00, 三块五, 两百块钱.

    Args:
        text: The entity text (spaces and a leading ¥ are ignored).

    Returns:
        The amount in yuan with two decimal places, or ``None``.
    """
    cleaned = re.sub(r"\s+", "", text).replace("￥", "¥")
    match = _AMOUNT.match(cleaned)
    if match is None:
        return None
    amount = read_number(match.group("number"))
    if amount is None or amount < 0:
        return None
    tenths = match.group("tenths")
    if tenths:
        jiao = read_number(tenths)
        if jiao is None:
            return None
        amount += jiao / 10
    return amount.quantize(_CENTS, rounding=ROUND_HALF_UP)
