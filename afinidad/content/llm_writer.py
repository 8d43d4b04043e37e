"""Writing a brief with a model provider instead of the offline generator: the brand's voice and rules and the
catalog facts go into the prompt, the channel's fields and limits into a JSON schema the answer must fit, and
what comes back is a set of pieces the checker then reads like any other. The model is told the facts; the
checker makes sure it kept to them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from afinidad.content.brand import BrandKit
from afinidad.content.channels import AD_COUNTS, FIELDS, NETWORKS
from afinidad.content.offline import Brief, money
from afinidad.content.pieces import Piece, ProductFact
from afinidad.content.providers import ChatClient, Completion

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German",
                  "it": "Italian", "ca": "Catalan", "nl": "Dutch"}  # fmt: skip


def fields_schema(content_type: str, network: str | None = None) -> dict[str, Any]:
    """The JSON schema of one piece: its fields, each within its channel's limit."""
    properties: dict[str, Any] = {}
    for limit in FIELDS[content_type]:
        text: dict[str, Any] = {"type": "string", "minLength": 1}
        if limit.max_chars is not None:
            text["maxLength"] = limit.max_chars
        if content_type == "social_post":
            text["maxLength"] = NETWORKS.get(network or "x", 280)
        if limit.repeated:
            least, most = AD_COUNTS.get(limit.name, (1, 10))
            properties[limit.name] = {"type": "array", "items": text, "minItems": least, "maxItems": most}
        else:
            properties[limit.name] = text
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def variants_schema(content_type: str, variants: int, network: str | None = None) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["variants"],
            "properties": {"variants": {"type": "array", "items": fields_schema(content_type, network),
                                        "minItems": variants, "maxItems": variants}}}  # fmt: skip


def _facts(products: Sequence[ProductFact], language: str) -> list[dict[str, Any]]:
    return [{"name": p.title, "price": money(p.selling_price, p.currency, language) if p.selling_price is not None
             else None, "brand": p.brand, "category": p.category, "attributes": p.attributes, "url": p.url}
            for p in products]  # fmt: skip


def messages(brief: Brief, products: Sequence[ProductFact], kit: BrandKit, variants: int) -> list[dict[str, str]]:
    """The system message is the brand; the user message the brief and the facts, as JSON."""
    language = LANGUAGE_NAMES.get(brief.language, brief.language)
    rules = [f"You write marketing copy for {kit.name}, in {language} only, in a {brief.tone or kit.tone} voice.",
             "State only the facts given: never invent a product, a price, a discount, a delivery promise or a claim.",
             "Write prices exactly as given."]  # fmt: skip
    if brief.language == "es":
        rules.append(f"Address the reader as {'tú' if kit.spanish_address == 'tu' else 'usted'}.")
    if kit.words_to_use:
        rules.append(f"Prefer these words: {', '.join(kit.words_to_use)}.")
    avoid = [*kit.words_to_avoid, *kit.banned_claims]
    if avoid:
        rules.append(f"Never use these words or claims: {', '.join(avoid)}.")
    disclaimers = kit.disclaimers_for(brief.content_type, brief.language)
    if disclaimers:
        rules.append(f"Every piece must contain, word for word: {' | '.join(disclaimers)}.")
    rules.append({"none": "Use no emoji.", "few": "Use at most two emoji.", "any": "Emoji are allowed."}[kit.emoji])
    if brief.personal:
        rules.append("Greet the reader with the merge field {{first_name}}; use no other placeholders.")
    else:
        rules.append("Use no placeholders or merge fields.")
    task = {"content_type": brief.content_type, "goal": brief.goal, "variants": variants, "products": _facts(
        products, brief.language), "offer": {"percent": brief.offer_percent, "code": brief.offer_code}
        if brief.offer_percent and brief.offer_code else None, "season": brief.season, "network": brief.network,
        "link": brief.url, "review": brief.review or None}  # fmt: skip
    ask = (f"Write {variants} clearly different variants for this brief. Answer with JSON only.\n"
           + json.dumps({k: v for k, v in task.items() if v is not None}, ensure_ascii=False))  # fmt: skip
    return [{"role": "system", "content": " ".join(rules)}, {"role": "user", "content": ask}]


def write(client: ChatClient, brief: Brief, products: Sequence[ProductFact], kit: BrandKit, variants: int,
          workspace_id: str | None = None) -> tuple[list[Piece], Completion]:  # fmt: skip
    """`variants` pieces from the provider (a `ProviderError` when it cannot give usable ones)."""
    completion = client.complete(messages(brief, products, kit, variants),
                                 json_schema=variants_schema(brief.content_type, variants, brief.network),
                                 workspace_id=workspace_id)  # fmt: skip
    offer = brief.offer_percent if brief.offer_code else None
    pieces = [Piece(brief.content_type, brief.language, dict(fields), list(products), network=brief.network,
                    offer_percent=offer) for fields in completion.data["variants"]]  # fmt: skip
    return pieces, completion


def translate(client: ChatClient, piece: Piece, language: str, kit: BrandKit, workspace_id: str | None = None
              ) -> tuple[Piece, Completion]:  # fmt: skip
    """The same piece in another language, by the provider: facts, prices, codes, links and merge fields kept
    as they are, the channel's limits as the schema."""
    target = LANGUAGE_NAMES.get(language, language)
    system = (f"You localise marketing copy for {kit.name} into {target}. Keep every product name, price, code, "
              "link and {{merge_field}} exactly as written; add nothing; keep each field within its "
              "limit.")  # fmt: skip
    if language == "es":
        system += f" Address the reader as {'tú' if kit.spanish_address == 'tu' else 'usted'}."
    ask = "Localise these fields. Answer with JSON only.\n" + json.dumps(piece.fields, ensure_ascii=False)
    completion = client.complete([{"role": "system", "content": system}, {"role": "user", "content": ask}],
                                 json_schema=fields_schema(piece.content_type, piece.network),
                                 workspace_id=workspace_id)  # fmt: skip
    localised = Piece(piece.content_type, language, dict(completion.data), piece.products, network=piece.network,
                      offer_percent=piece.offer_percent)  # fmt: skip
    return localised, completion
