"""Build the project's spaCy pipeline: blank ``zh``, jieba segmenter, EntityRuler.

No pretrained weights can be downloaded, so the entity knowledge is written
down: token patterns for order ids, waybill numbers, money and time spans, and
phrase patterns for products, colours and sizes taken from the NLU lookup
tables (one source for both Rasa and spaCy). Rasa loads the folder through
``SpacyNLP(model: build/spacy_zh)`` and ``SpacyEntityExtractor`` reads its
entities.

Usage::

    python -m shopbot_rasa.spacy_pipeline --out build/spacy_zh \
        --lookups data/nlu/lookups --userdict data/jieba
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import yaml

logger = logging.getLogger(__name__)

#: Lookup tables of data/nlu/lookups/ that become phrase patterns, and the
#: entity each one feeds (a category is tagged as a product).
PHRASE_ENTITIES = {"product": "product", "category": "product", "color": "color", "size": "size"}

_DIGIT_CHARS = "0-9零〇一二两三四五六七八九十百千万"
_DIGITS = f"[{_DIGIT_CHARS}]"
#: A number that is not vague: 几 may follow a digit (十几) but not lead (几天).
_COUNT = rf"(?:{_DIGITS}+几?|半(?![天日]))"
_NUMBER = rf"^(?:\d+(?:\.\d{{1,2}})?|{_DIGITS}+)$"
_TIME_UNIT = r"(?:天|日|周|星期|礼拜|月|年|小时|钟头|分钟)"
#: A time unit with what may stand around it: 个, 多 (more than), 半 (and a half).
_TIME_TAIL = rf"(?:个)?多?半?(?:个)?{_TIME_UNIT}多?半?"
_MONEY_UNIT = r"(?:元|块|块钱|元钱|rmb|RMB)"

#: Patterns that do not depend on the lookup tables. Whether a long number is
#: an order id or a waybill is decided later from the words before it (see
#: shopbot_rasa.nlu.entity_normalizer).
TOKEN_PATTERNS: List[Dict[str, Any]] = [
    # Order ids (JD-like 11-12 digits up to 32) and other long digit strings.
    {"label": "order_id", "pattern": [{"TEXT": {"REGEX": r"^\d{10,32}$"}}]},
    # Courier waybill numbers: letters then digits (SF…, YT…, JD…, ZTO…).
    {
        "label": "tracking_no",
        "pattern": [
            {"TEXT": {"REGEX": r"^(?i:SF|YT|JD|JDV|JT|ZTO|STO|YD|YUNDA|EMS|DPK|DB|KYE)\d{8,20}$"}}
        ],
    },
    # Money: "99元", "99 元", "¥129.00", "两百块", "九十九 块", "三块 五".
    {"label": "amount", "pattern": [{"TEXT": {"REGEX": rf"^[{_DIGIT_CHARS}.]+{_MONEY_UNIT}$"}}]},
    {
        "label": "amount",
        "pattern": [{"TEXT": {"REGEX": _NUMBER}}, {"TEXT": {"REGEX": rf"^{_MONEY_UNIT}"}}],
    },
    {
        "label": "amount",
        "pattern": [
            {"TEXT": {"REGEX": rf"^{_DIGITS}+块$"}},
            {"TEXT": {"REGEX": r"^[一二两三四五六七八九1-9]$"}},
        ],
    },
    {
        "label": "amount",
        "pattern": [{"TEXT": {"IN": ["¥", "￥"]}}, {"TEXT": {"REGEX": r"^\d+(?:\.\d{1,2})?$"}}],
    },
    {"label": "amount", "pattern": [{"TEXT": {"REGEX": r"^[¥￥]\d+(?:\.\d{1,2})?$"}}]},
    # Time spans: "三天", "15 天", "两个 多月", "半年", "一个半月", "十几天";
    # never a vague "几天" / "好几天".
    {"label": "duration", "pattern": [{"TEXT": {"REGEX": rf"^{_COUNT}{_TIME_TAIL}$"}}]},
    {
        "label": "duration",
        "pattern": [{"TEXT": {"REGEX": _NUMBER}}, {"TEXT": {"REGEX": rf"^{_TIME_TAIL}$"}}],
    },
    {
        "label": "duration",
        "pattern": [
            {"TEXT": {"REGEX": rf"^{_COUNT}个$"}},
            {"TEXT": {"REGEX": rf"^{_TIME_TAIL}$"}},
        ],
    },
    # Sizes written as letters or numbers with 码: "XL", "2XL", "38码".
    {"label": "size", "pattern": [{"TEXT": {"REGEX": r"^(?i:[2-5]?x{1,3}l|xs|[sml])码?$"}}]},
    {"label": "size", "pattern": [{"TEXT": {"REGEX": r"^\d{2}(?:\.5)?$"}}, {"TEXT": "码"}]},
    {"label": "size", "pattern": [{"TEXT": {"REGEX": r"^\d{2}(?:\.5)?码$"}}]},
]


def read_lookups(path: Path) -> Dict[str, List[str]]:
    """Read the lookup tables of a Rasa NLU YAML file or of a folder of them.

    Args:
        path: A file with ``nlu: - lookup: name / examples: |`` entries, or a
            folder whose ``*.yml`` files are read.

    Returns:
        Entity label → its phrases, for the tables in :data:`PHRASE_ENTITIES`
        (a category's phrases count as products).
    """
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    tables: Dict[str, List[str]] = {}
    for file in files:
        if not file.exists():
            continue
        document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu", []) or []:
            name = item.get("lookup") if isinstance(item, dict) else None
            if name not in PHRASE_ENTITIES:
                continue
            lines = str(item.get("examples", "")).splitlines()
            phrases = [line.strip()[1:].strip() for line in lines if line.strip().startswith("-")]
            tables.setdefault(PHRASE_ENTITIES[name], []).extend(p for p in phrases if p)
    return tables


def phrase_patterns(tables: Dict[str, Iterable[str]]) -> List[Dict[str, Any]]:
    """Turn lookup tables into EntityRuler phrase patterns (longest first)."""
    patterns: List[Dict[str, Any]] = []
    for label, phrases in sorted(tables.items()):
        for phrase in sorted(set(phrases), key=lambda p: (-len(p), p)):
            patterns.append({"label": label, "pattern": phrase})
    return patterns


def load_userdict(folder: Path) -> int:
    """Load every jieba user dictionary in ``folder`` (as Rasa's tokenizer does)."""
    import jieba

    count = 0
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            if file.is_file():
                jieba.load_userdict(str(file))
                count += 1
    return count


def build(out: Path, lookups: Path, userdict: Path) -> Path:
    """Build the pipeline into ``out`` and return the folder.

    Args:
        out: Output folder (replaced).
        lookups: The NLU lookup tables (a file or a folder of files).
        userdict: Folder of jieba user dictionaries used while building.

    Returns:
        The folder the pipeline was written to.
    """
    import spacy

    load_userdict(userdict)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    patterns = TOKEN_PATTERNS + phrase_patterns(read_lookups(lookups))
    ruler.add_patterns(patterns)  # type: ignore[attr-defined]
    nlp.meta["name"] = "shopbot_zh"
    nlp.meta["description"] = "blank zh + jieba + EntityRuler for shopbot"
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    logger.info("spaCy pipeline with %d patterns written to %s", len(patterns), out)
    return out


def fingerprint(paths: Sequence[Path]) -> str:
    """Return a hash of the builder inputs, to know when to rebuild."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                digest.update(file.name.encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Build the pipeline when its inputs changed; return an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/spacy_zh"))
    parser.add_argument("--lookups", type=Path, default=Path("data/nlu/lookups"))
    parser.add_argument("--userdict", type=Path, default=Path("data/jieba"))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    stamp = args.out / "shopbot_fingerprint.json"
    current = fingerprint([args.lookups, args.userdict])
    if not args.force and stamp.exists():
        if json.loads(stamp.read_text()).get("fingerprint") == current:
            print(f"spaCy pipeline {args.out} is up to date")
            return 0
    logging.basicConfig(level=logging.INFO)
    build(args.out, args.lookups, args.userdict)
    stamp.write_text(json.dumps({"fingerprint": current}))
    print(f"spaCy pipeline built in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
