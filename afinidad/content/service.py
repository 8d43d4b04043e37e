"""The content studio in a workspace: briefs become checked drafts (offline by default), a person moves them
through review (draft -> in_review -> approved / rejected, with comments and versions), only approved pieces
are personalised for sending or become the variants of an experiment, and every step is kept.

Facts come from the catalog at the moment they are used: a piece is checked again when it is approved and
when it is rendered for a person, so a price that changed since it was written blocks it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from afinidad.content import llm_writer
from afinidad.content.brand import BrandKit
from afinidad.content.channels import FIELDS, NETWORKS
from afinidad.content.checker import Finding, check
from afinidad.content.language import known
from afinidad.content.offline import Brief, Draft, generate
from afinidad.content.offline import localise as offline_localise
from afinidad.content.pieces import MERGE_FIELDS, Piece, ProductFact
from afinidad.content.providers import ChatClient, Completion, ProviderConfig
from afinidad.errors import Conflict, FieldProblem, InvalidInput, NotFound, field_problems
from afinidad.store.models import ContentHistory, ContentPiece, Product
from afinidad.workspaces.service import get_workspace
from afinidad.workspaces.settings import read_settings

Status = Literal["draft", "in_review", "approved", "rejected"]


class BriefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: Literal["email", "subject_line", "search_ad", "social_post", "sms", "product_description",
                          "review_reply"]  # fmt: skip
    language: Annotated[str, Field(min_length=2, max_length=10)] = "en"
    goal: Literal["promote", "offer", "winback", "new_arrivals", "seasonal"] = "promote"
    tone: Literal["friendly", "formal", "playful", "luxury", "bold"] | None = None
    product_ids: Annotated[list[Annotated[str, Field(max_length=255)]], Field(max_length=10)] = Field(
        default_factory=list, description="Default: the workspace's trending products."
    )
    offer_percent: Annotated[int, Field(ge=1, le=90)] | None = None
    offer_code: Annotated[str, Field(min_length=2, max_length=30, pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    season: Annotated[str, Field(max_length=40)] | None = None
    network: str | None = None
    url: Annotated[str, Field(max_length=500, pattern=r"^https?://\S+$")] | None = None
    personal: bool = Field(False, description="Greet by first name, filled per person when rendered.")
    review: dict[str, Any] = Field(default_factory=dict, description="For replies: rating (1-5) and text.")
    segment: Annotated[str, Field(max_length=100)] | None = Field(
        None, description="Who it is for: without product_ids, the copy is about what this segment likes most."
    )
    variants: Annotated[int, Field(ge=1, le=20)] = 3
    seed: int = 0
    writer: Literal["offline", "provider"] = Field("offline", description="provider: the workspace's model.")

    @field_validator("language")
    @classmethod
    def _known(cls, code: str) -> str:
        if not known(code):
            raise ValueError(f"{code!r} is not an ISO 639-1 language code")
        return code.lower()

    @field_validator("network")
    @classmethod
    def _network(cls, network: str | None) -> str | None:
        if network is not None and network not in NETWORKS:
            raise ValueError(f"one of {', '.join(NETWORKS)}")
        return network


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def brand_kit(session: Session, workspace_id: str) -> BrandKit:
    stored = read_settings(session, workspace_id).brand_kit
    return stored or BrandKit(name=get_workspace(session, workspace_id).name)


def product_facts(session: Session, workspace_id: str, product_ids: list[str], field: str = "product_ids"
                  ) -> list[ProductFact]:  # fmt: skip
    """The catalog's current facts for these products, in order; an unknown or inactive one is refused."""
    found = session.execute(select(Product).where(Product.workspace_id == workspace_id, Product.id.in_(product_ids),
                                                  Product.active.is_(True))).scalars()  # fmt: skip
    rows = {row.id: row for row in found}
    missing = [pid for pid in product_ids if pid not in rows]
    if missing:
        raise InvalidInput("Unknown or inactive products; nothing was written.",
                           [FieldProblem(field, f"unknown product {pid!r}") for pid in missing])  # fmt: skip
    facts = []
    for pid in product_ids:
        row = rows[pid]
        attributes = {str(k): str(v) for k, v in (row.attributes or {}).items()
                      if isinstance(v, str | int | float) and not isinstance(v, bool)}  # fmt: skip
        facts.append(ProductFact(row.id, row.title, Decimal(row.price), row.currency,
                                 Decimal(row.sale_price) if row.sale_price is not None else None, row.brand,
                                 row.category or None, attributes, attributes.get("url")))  # fmt: skip
    return facts


SEGMENT_DAYS = 90


def _segment_products(session: Session, workspace_id: str, segment: str, n: int = 3) -> list[str]:
    """What a segment's members viewed, added and bought most in the last `SEGMENT_DAYS` days (orders count
    three times), among active products: copy for a segment speaks of what that segment likes."""
    from datetime import timedelta

    from afinidad.recommend.training import PRODUCT_EVENTS, products_of
    from afinidad.store.models import Event, Segment, SegmentMember

    named = (Segment.name == segment) | (Segment.id == segment)
    found = session.execute(select(Segment.id).where(Segment.workspace_id == workspace_id, named)).scalar()
    if found is None:
        raise InvalidInput("Unknown segment; nothing was written.", [FieldProblem("segment", "no such segment")])
    members = select(SegmentMember.profile_id).where(SegmentMember.workspace_id == workspace_id,
                                                     SegmentMember.segment_id == found)  # fmt: skip
    scores: dict[str, float] = {}
    for event, properties in session.execute(select(Event.event, Event.properties).where(
            Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event.in_(PRODUCT_EVENTS),
            Event.timestamp >= _now() - timedelta(days=SEGMENT_DAYS))):  # fmt: skip
        for product_id in products_of(event, properties):
            scores[product_id] = scores.get(product_id, 0.0) + (3.0 if event == "Order Completed" else 1.0)
    ranked = sorted(scores, key=lambda pid: (-scores[pid], pid))
    shortlist = ranked[: n * 5]
    live = (Product.workspace_id == workspace_id, Product.id.in_(shortlist), Product.active.is_(True))
    active = set(session.execute(select(Product.id).where(*live)).scalars())
    return [pid for pid in ranked if pid in active][:n]


def _default_products(session: Session, workspace_id: str, segment: str | None) -> list[str]:
    """The segment's favourites when the brief names one (and they have any), else what is trending."""
    from afinidad.recommend.trending import trending

    if segment:
        liked = _segment_products(session, workspace_id, segment)
        if liked:
            return liked
    return [item["product_id"] for item in trending(session, workspace_id, n=3, days=30, slot="content")["items"]]


def describe(row: ContentPiece) -> dict[str, Any]:
    findings = row.findings or []
    return {"id": row.id, "batch": row.batch, "content_type": row.content_type, "language": row.language,
            "status": row.status, "version": row.version, "fields": row.fields, "products": row.products,
            "writer": row.writer, "findings": findings, "blocking": any(f["blocking"] for f in findings),
            "brief": row.brief, "created_at": row.created_at.isoformat(timespec="seconds") + "Z",
            "updated_at": row.updated_at.isoformat(timespec="seconds") + "Z"}  # fmt: skip


def _log(session: Session, row: ContentPiece, action: str, actor: str, comment: str | None = None,
         before: dict | None = None) -> None:  # fmt: skip
    session.add(ContentHistory(workspace_id=row.workspace_id, piece_id=row.id, action=action, version=row.version,
                               actor=actor, comment=comment, before=before, at=_now()))  # fmt: skip


def check_brief(raw: dict[str, Any]) -> BriefIn:
    try:
        return BriefIn.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput("Invalid brief; nothing was written.", field_problems(error, "brief")) from error


def generate_pieces(session: Session, workspace_id: str, raw: dict[str, Any], actor: str) -> dict[str, Any]:
    """Drafts for a brief, each checked; all stored or none."""
    brief_in = check_brief(raw)
    problems = []
    if brief_in.goal == "offer" and (brief_in.offer_percent is None or brief_in.offer_code is None):
        problems.append(FieldProblem("offer_code", "an offer needs offer_percent and offer_code"))
    if brief_in.content_type == "social_post" and brief_in.network is None:
        problems.append(FieldProblem("network", f"a social post needs a network: {', '.join(NETWORKS)}"))
    if brief_in.content_type == "review_reply" and not 1 <= int(brief_in.review.get("rating") or 0) <= 5:
        problems.append(FieldProblem("review.rating", "a reply needs the review's rating, 1 to 5"))
    if problems:
        raise InvalidInput("Invalid brief; nothing was written.", problems)
    ids = brief_in.product_ids or _default_products(session, workspace_id, brief_in.segment)
    if not ids and brief_in.content_type not in ("review_reply",):
        raise Conflict("No products in the brief and none trending yet: name the products to write about.")
    products = product_facts(session, workspace_id, ids)
    kit = brand_kit(session, workspace_id)
    brief = Brief(brief_in.content_type, brief_in.language, brief_in.goal, brief_in.tone, brief_in.offer_percent,
                  brief_in.offer_code, brief_in.season, brief_in.network, brief_in.url, brief_in.personal,
                  brief_in.review)  # fmt: skip
    writer, usage = "offline", None
    if brief_in.writer == "provider":
        config = read_settings(session, workspace_id).content_provider
        if config is None:
            raise Conflict("No content provider is configured for this workspace (setting `content_provider`).")
        pieces, completion = llm_writer.write(_client(config), brief, products, kit, brief_in.variants, workspace_id)
        drafts = [Draft(piece, {}) for piece in pieces]
        writer = completion.model or config.model
        usage = _spent(completion)
    else:
        drafts = generate(brief, products, kit, brief_in.variants, brief_in.seed)
    batch = "cb_" + uuid.uuid4().hex[:20]
    common = {**brief_in.model_dump(mode="json"), "product_ids": ids, "usage": usage}
    stored = [_store(session, workspace_id, draft.piece, kit, {**common, "choices": draft.choices}, ids, writer, batch,
                     actor) for draft in drafts]  # fmt: skip
    session.flush()
    return {"batch": batch, "writer": writer, "usage": usage, "pieces": [describe(row) for row in stored]}


def _spent(completion: Completion) -> dict[str, Any]:
    """What one provider call cost, kept with the pieces it wrote (summed by `usage`)."""
    return {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
            "cost": completion.cost, "estimated": completion.estimated, "attempts": completion.attempts}  # fmt: skip


_CLIENTS: dict[str, ChatClient] = {}


def _client(config: ProviderConfig) -> ChatClient:
    """One client per configuration, so its concurrency limit holds across requests."""
    key = config.model_dump_json()
    if key not in _CLIENTS:
        _CLIENTS[key] = ChatClient(config)
    return _CLIENTS[key]


def usage(session: Session, workspace_id: str) -> dict[str, Any]:
    """Tokens and cost of the workspace's provider calls, from the batches they wrote."""
    totals = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    seen: set[str] = set()
    for batch, brief in session.execute(select(ContentPiece.batch, ContentPiece.brief).where(
            ContentPiece.workspace_id == workspace_id, ContentPiece.writer != "offline")):  # fmt: skip
        spent = (brief or {}).get("usage")
        if batch in seen or not spent:
            continue
        seen.add(batch)
        totals["calls"] += 1
        totals["prompt_tokens"] += int(spent.get("prompt_tokens") or 0)
        totals["completion_tokens"] += int(spent.get("completion_tokens") or 0)
        totals["cost"] += float(spent.get("cost") or 0.0)
    totals["cost"] = round(totals["cost"], 6)
    return totals


def _store(session: Session, workspace_id: str, piece: Piece, kit: BrandKit, brief: dict[str, Any], ids: list[str],
           writer: str, batch: str, actor: str) -> ContentPiece:  # fmt: skip
    now = _now()
    row = ContentPiece(id="cnt_" + uuid.uuid4().hex[:20], workspace_id=workspace_id, content_type=piece.content_type,
                       language=piece.language, status="draft", version=1, fields=piece.fields, brief=brief,
                       products=ids, findings=[f.as_dict() for f in check(piece, kit)], writer=writer[:100],
                       batch=batch, created_at=now, updated_at=now)  # fmt: skip
    session.add(row)
    _log(session, row, "generated", actor)
    return row


def localise(session: Session, workspace_id: str, piece_id: str, language: str, actor: str) -> dict[str, Any]:
    """The piece in another language, as a new draft checked in that language: the offline writer rewrites
    the same variant from its aligned phrasings (English and Spanish); any other language, or a piece a
    provider wrote, goes to the workspace's provider."""
    row = get_piece(session, workspace_id, piece_id)
    if not known(language) or language.lower() == row.language:
        raise InvalidInput("Localise into another language.", [FieldProblem("language", "an ISO 639-1 code, "
                                                                            f"not {row.language}")])  # fmt: skip
    language = language.lower()
    kit, source = brand_kit(session, workspace_id), _piece(session, row)
    brief = dict(row.brief or {})
    usage = None
    if row.writer == "offline" and {row.language, language} <= {"en", "es"} and brief.get("choices") is not None:
        offline_brief = Brief(row.content_type, row.language, brief.get("goal", "promote"), brief.get("tone"),
                              brief.get("offer_percent"), brief.get("offer_code"), brief.get("season"),
                              brief.get("network"), brief.get("url"), bool(brief.get("personal")),
                              brief.get("review") or {})  # fmt: skip
        piece = offline_localise(Draft(source, brief["choices"]), offline_brief, source.products, kit, language).piece
        writer = "offline"
    else:
        config = read_settings(session, workspace_id).content_provider
        if config is None:
            raise Conflict(f"Localising into {language} needs a content provider (setting `content_provider`).")
        piece, completion = llm_writer.translate(_client(config), source, language, kit, workspace_id)
        writer = completion.model or config.model
        usage = _spent(completion)
    made = _store(session, workspace_id, piece, kit, {**brief, "language": language, "localised_from": row.id,
                                                       "usage": usage}, list(row.products), writer,
                  "cb_" + uuid.uuid4().hex[:20], actor)  # fmt: skip
    session.flush()
    return describe(made)


def get_piece(session: Session, workspace_id: str, piece_id: str) -> ContentPiece:
    row = session.get(ContentPiece, piece_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("No content piece has this id in this workspace.")
    return row


def _piece(session: Session, row: ContentPiece) -> Piece:
    products = product_facts(session, row.workspace_id, [p for p in row.products if session.get(
        Product, (row.workspace_id, p)) is not None])  # fmt: skip
    brief = row.brief or {}
    offer = brief.get("offer_percent") if brief.get("offer_code") else None
    return Piece(row.content_type, row.language, dict(row.fields), products, network=brief.get("network"),
                 offer_percent=offer)  # fmt: skip


def recheck(session: Session, workspace_id: str, piece_id: str, final: bool = False) -> list[Finding]:
    """Check a piece again against the brand kit and the catalog as they are now, and keep the findings."""
    row = get_piece(session, workspace_id, piece_id)
    findings = check(_piece(session, row), brand_kit(session, workspace_id), final=final)
    gone = [p for p in row.products if session.get(Product, (workspace_id, p)) is None]
    findings += [Finding("unknown_product", True, "products", f"{p} is no longer in the catalog") for p in gone]
    if not final:
        row.findings = [f.as_dict() for f in findings]
    return findings


def _move(row: ContentPiece, allowed: tuple[str, ...], to: str, action: str) -> None:
    if row.status not in allowed:
        raise Conflict(f"The piece is {row.status.replace('_', ' ')}; it cannot be {action}.")
    row.status, row.updated_at = to, _now()


def submit(session: Session, workspace_id: str, piece_id: str, actor: str) -> dict[str, Any]:
    row = get_piece(session, workspace_id, piece_id)
    _move(row, ("draft", "rejected"), "in_review", "submitted for review")
    recheck(session, workspace_id, piece_id)
    _log(session, row, "submitted", actor)
    return describe(row)


def approve(session: Session, workspace_id: str, piece_id: str, actor: str, comment: str | None = None
            ) -> dict[str, Any]:  # fmt: skip
    """Approve a piece in review, if nothing blocks it as things stand now (a price may have changed)."""
    row = get_piece(session, workspace_id, piece_id)
    if row.status != "in_review":
        raise Conflict(f"The piece is {row.status.replace('_', ' ')}; only a piece in review can be approved.")
    findings = recheck(session, workspace_id, piece_id)
    blockers = [f for f in findings if f.blocking]
    if blockers:
        listed = "; ".join(f"{f.rule} in {f.field}: {f.message}" for f in blockers[:5])
        raise Conflict(f"The piece cannot be approved while it has blocking findings ({listed}); nothing changed.")
    _move(row, ("in_review",), "approved", "approved")
    _log(session, row, "approved", actor, comment)
    return describe(row)


def reject(session: Session, workspace_id: str, piece_id: str, actor: str, comment: str | None = None
           ) -> dict[str, Any]:  # fmt: skip
    row = get_piece(session, workspace_id, piece_id)
    _move(row, ("draft", "in_review"), "rejected", "rejected")
    _log(session, row, "rejected", actor, comment)
    return describe(row)


def comment_on(session: Session, workspace_id: str, piece_id: str, actor: str, text: str) -> dict[str, Any]:
    row = get_piece(session, workspace_id, piece_id)
    _log(session, row, "commented", actor, text)
    return describe(row)


def edit(session: Session, workspace_id: str, piece_id: str, fields: dict[str, Any], actor: str) -> dict[str, Any]:
    """A new version with these fields; an approved piece goes back to draft (its approval was for the old
    words)."""
    row = get_piece(session, workspace_id, piece_id)
    allowed = {limit.name for limit in FIELDS[row.content_type]}
    problems = [FieldProblem(f"fields.{name}", f"not a field of {row.content_type}; one of {sorted(allowed)}")
                for name in fields if name not in allowed]  # fmt: skip
    for name, value in fields.items():
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            problems.append(FieldProblem(f"fields.{name}", "must be text (or a list of texts)"))
    if problems:
        raise InvalidInput("Invalid edit; nothing was changed.", problems)
    before = dict(row.fields)
    row.fields, row.version = {**row.fields, **fields}, row.version + 1
    if row.status in ("approved", "rejected"):
        row.status = "draft"
    row.updated_at = _now()
    recheck(session, workspace_id, piece_id)
    _log(session, row, "edited", actor, before=before)
    return describe(row)


def history(session: Session, workspace_id: str, piece_id: str) -> list[dict[str, Any]]:
    get_piece(session, workspace_id, piece_id)
    rows = session.execute(select(ContentHistory).where(ContentHistory.workspace_id == workspace_id,
                                                        ContentHistory.piece_id == piece_id)
                           .order_by(ContentHistory.id)).scalars()  # fmt: skip
    return [{"action": r.action, "version": r.version, "actor": r.actor, "comment": r.comment, "before": r.before,
             "at": r.at.isoformat(timespec="seconds") + "Z"} for r in rows]  # fmt: skip


def list_pieces(session: Session, workspace_id: str, status: str | None = None, batch: str | None = None,
                limit: int = 200) -> list[dict[str, Any]]:  # fmt: skip
    query = select(ContentPiece).where(ContentPiece.workspace_id == workspace_id)
    if status:
        query = query.where(ContentPiece.status == status)
    if batch:
        query = query.where(ContentPiece.batch == batch)
    rows = session.execute(query.order_by(ContentPiece.created_at.desc(), ContentPiece.id).limit(limit)).scalars()
    return [describe(row) for row in rows]


def _listed(names: list[str], language: str) -> str:
    joiner = " and " if language == "en" else " y "
    return (", ".join(names[:-1]) + joiner + names[-1]) if len(names) > 1 else (names[0] if names else "")


def merge_values(traits: dict[str, Any], last_product: str | None, recommended: list[str], language: str,
                 basket: list[str] | None = None) -> dict[str, str]:  # fmt: skip
    return {"first_name": str(traits.get("first_name") or traits.get("firstName") or "").strip(),
            "last_product": last_product or "", "last_basket": _listed((basket or [])[:4], language),
            "recommended_products": _listed(recommended[:3], language)}  # fmt: skip


def fill(fields: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """Merge fields filled; an empty one takes its greeting comma with it ("Hi {{first_name}}," -> "Hi,")."""
    import re

    def one(text: str) -> str:
        for name in MERGE_FIELDS:
            value = values.get(name, "")
            text = re.sub(r"[ ,]*\{\{\s*" + name + r"\s*\}\}" if not value else r"\{\{\s*" + name + r"\s*\}\}",
                          value, text)  # fmt: skip
        return text.replace(" :", ":")

    return {k: [one(v) for v in value] if isinstance(value, list) else one(value) for k, value in fields.items()}


def _members(session: Session, workspace_id: str, profile_id: str) -> list[str]:
    """The profile and those merged into it: whose events are this person's."""
    from afinidad.store.models import Profile

    merged = select(Profile.id).where(Profile.workspace_id == workspace_id, Profile.merged_into == profile_id)
    return [profile_id, *session.execute(merged).scalars()]


def _last_product(session: Session, workspace_id: str, profile_id: str) -> str | None:
    """The title of the product the person last viewed, added or bought."""
    from afinidad.recommend.training import PRODUCT_EVENTS, products_of
    from afinidad.store.models import Event

    members = _members(session, workspace_id, profile_id)
    for event, properties in session.execute(select(Event.event, Event.properties).where(
            Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event.in_(PRODUCT_EVENTS))
            .order_by(Event.timestamp.desc()).limit(20)):  # fmt: skip
        for product_id in products_of(event, properties):
            row = session.get(Product, (workspace_id, product_id))
            if row is not None and row.active:
                return row.title
    return None


def _last_basket(session: Session, workspace_id: str, profile_id: str) -> list[str]:
    """The titles of what the person bought in their last order (a grocery shop's recipe idea starts here)."""
    from afinidad.recommend.training import products_of
    from afinidad.store.models import Event

    members = _members(session, workspace_id, profile_id)
    last = session.execute(select(Event.event, Event.properties).where(
        Event.workspace_id == workspace_id, Event.profile_id.in_(members), Event.event == "Order Completed")
        .order_by(Event.timestamp.desc()).limit(1)).first()  # fmt: skip
    if last is None:
        return []
    titles = []
    for product_id in products_of(*last):
        row = session.get(Product, (workspace_id, product_id))
        if row is not None and row.title not in titles:
            titles.append(row.title)
    return titles


def _recommended(session: Session, workspace_id: str, identifier: str, language: str) -> list[str]:
    """Three products recommended for the person (logged as a decision of the `email` slot, as every
    recommendation is), by title."""
    from afinidad.recommend.serving import Request, recommend

    answer = recommend(session, workspace_id, Request(identifier=identifier, n=3, slot="email", language=language))
    return [item["title"] for item in answer["items"]][:3]


def render(session: Session, workspace_id: str, piece_id: str, identifier: str | None) -> dict[str, Any]:
    """An approved piece as one person receives it: merge fields filled from their profile, checked as sent."""
    from afinidad.profiles.service import get_profile

    row = get_piece(session, workspace_id, piece_id)
    if row.status != "approved":
        raise Conflict(f"The piece is {row.status.replace('_', ' ')}; only approved pieces are sent.")
    traits: dict[str, Any] = {}
    last, recommended, basket = None, [], []
    if identifier:
        try:
            profile = get_profile(session, workspace_id, identifier)
        except NotFound:
            profile = None
        if profile is not None:
            traits = profile["traits"]
            last = _last_product(session, workspace_id, profile["id"])
            basket = _last_basket(session, workspace_id, profile["id"])
            recommended = _recommended(session, workspace_id, identifier, row.language)
    values = merge_values(traits, last, recommended, row.language, basket)
    piece = _piece(session, row)
    piece.fields = fill(row.fields, values)
    findings = check(piece, brand_kit(session, workspace_id), final=True)
    blockers = [f for f in findings if f.blocking]
    if blockers:
        listed = "; ".join(f"{f.rule} in {f.field}: {f.message}" for f in blockers[:5])
        raise Conflict(f"The piece cannot be sent as it stands now ({listed}).")
    return {"id": row.id, "version": row.version, "fields": piece.fields, "language": row.language}


def _approved(session: Session, workspace_id: str, piece_ids: list[str]) -> list[ContentPiece]:
    rows = [get_piece(session, workspace_id, piece_id) for piece_id in dict.fromkeys(piece_ids)]
    if len(rows) < 2:
        raise InvalidInput("Two pieces or more are needed.", [FieldProblem("piece_ids", "at least two")])
    unapproved = [row.id for row in rows if row.status != "approved"]
    if unapproved:
        raise Conflict(f"Only approved pieces can be variants; not approved: {', '.join(unapproved)}.")
    if len({row.content_type for row in rows}) > 1:
        raise InvalidInput("The pieces are of different types.", [FieldProblem("piece_ids", "one content type")])
    return rows


def _variant_content(row: ContentPiece) -> dict[str, Any]:
    return {"piece_id": row.id, "version": row.version, "fields": row.fields}


def to_block(session: Session, workspace_id: str, piece_ids: list[str], slot: str, policy: str, actor: str
             ) -> dict[str, Any]:  # fmt: skip
    """Approved pieces become the variants of a content block that learns which works (a bandit, or a
    contextual bandit), in one step; `POST /v1/decide` then serves them."""
    from afinidad.decide.service import save_block

    if policy not in ("bandit", "contextual"):
        raise InvalidInput(
            "A block of content pieces learns by itself.", [FieldProblem("policy", "bandit or contextual")]
        )
    rows = _approved(session, workspace_id, piece_ids)
    made = save_block(session, workspace_id, {"slot": slot, "policy": policy, "description": f"{len(rows)} approved "
                      f"{rows[0].content_type.replace('_', ' ')} pieces",
                      "variants": [{"id": row.id, "content": _variant_content(row)} for row in rows]})  # fmt: skip
    for row in rows:
        _log(session, row, "in_block", actor, slot)
    return made


def to_experiment(session: Session, workspace_id: str, piece_ids: list[str], key: str, actor: str,
                  metrics: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    """Approved pieces become the variants of a new experiment (a draft, split equally), in one step."""
    from afinidad.decide.experiment_service import create_experiment

    rows = _approved(session, workspace_id, piece_ids)
    share = round(100 / len(rows), 2)
    weights = [share] * (len(rows) - 1) + [round(100 - share * (len(rows) - 1), 2)]
    definition = {"key": key, "name": f"{rows[0].content_type.replace('_', ' ')}: {len(rows)} variants",
                  "variants": [{"id": row.id, "weight": weight, "content": _variant_content(row)}
                               for row, weight in zip(rows, weights, strict=True)],
                  "metrics": metrics or [{"name": "clicks", "event": "Promotion Clicked"},
                                         {"name": "orders", "event": "Order Completed"}]}  # fmt: skip
    made = create_experiment(session, workspace_id, definition)
    for row in rows:
        _log(session, row, "in_experiment", actor, made["key"])
    return made


def ideas(session: Session, workspace_id: str, language: str = "en", now: datetime | None = None) -> dict[str, Any]:
    """Ideas for copy from the workspace's signals now: trending products, searches, reviews, the season."""
    from datetime import timedelta

    from afinidad.content.ideas import ideas as from_signals
    from afinidad.recommend.trending import trending
    from afinidad.store.models import Event

    if not known(language):
        raise InvalidInput("Unknown language.", [FieldProblem("language", "an ISO 639-1 code")])
    now = now or _now()
    since = now - timedelta(days=30)
    hot = trending(session, workspace_id, n=5, days=30, slot="content-ideas", now=now)["items"]
    searched: dict[str, int] = {}
    reviews: list[str] = []
    for event, properties in session.execute(select(Event.event, Event.properties).where(
            Event.workspace_id == workspace_id, Event.event.in_(("Products Searched", "Product Reviewed")),
            Event.timestamp >= since)):  # fmt: skip
        properties = properties or {}
        if event == "Products Searched" and isinstance(properties.get("query"), str):
            query = " ".join(properties["query"].lower().split())[:60]
            if query:
                searched[query] = searched.get(query, 0) + 1
        elif event == "Product Reviewed":
            text = properties.get("review_body") or properties.get("text")
            if isinstance(text, str):
                reviews.append(text[:2000])
    top = sorted(searched.items(), key=lambda item: (-item[1], item[0]))
    found = from_signals(hot, top, reviews, now.date(), language.lower())
    return {"language": language, "as_of": now.isoformat(timespec="seconds") + "Z",
            "ideas": [idea.as_dict() for idea in found]}  # fmt: skip
