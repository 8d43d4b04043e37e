"""The tables. Events are the source of truth and append-only; profiles, identities and merges are
derived from them and can be rebuilt (`afinidad profiles rebuild`).

Times are stored as naive UTC datetimes on both SQLite and PostgreSQL, so comparisons behave the same
on both; the code converts at the edges."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL wants a BIGINT identity.
SequenceKey = BigInteger().with_variant(Integer(), "sqlite")
# A weighted tsvector on PostgreSQL; on SQLite the terms live in the FTS5 table `product_search_fts` instead.
SearchDocument = Text().with_variant(TSVECTOR(), "postgresql")
# Tables the migrations create outside the models (SQLite FTS5 and its shadow tables): schema checks skip them.
UNMODELLED_TABLES = ("product_search_fts",)


def include_in_schema_checks(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's `include_object`: leave the FTS5 table, its shadow tables and the PostgreSQL-only GIN index
    out of schema comparisons."""
    if type_ == "index" and name in _POSTGRES_ONLY_INDEXES:
        return False
    return not (type_ == "table" and name is not None and name.startswith(UNMODELLED_TABLES))


_POSTGRES_ONLY_INDEXES = frozenset({"ix_product_search_document"})


class Base(DeclarativeBase):
    type_annotation_map = {dict: Json, datetime: DateTime(timezone=False)}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    settings: Mapped[dict] = mapped_column(default=dict)


class ApiKey(Base):
    """Keys are stored as SHA-256 digests: they are long random tokens, so a fast hash is enough and keeps
    the ingestion hot path cheap (a password hash would cost milliseconds per request)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "write" or "secret"
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings, never enough to use
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id", name="uq_events_message"),
        Index("ix_events_profile_time", "workspace_id", "profile_id", "timestamp"),
        Index("ix_events_name_time", "workspace_id", "event", "timestamp"),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(255))  # track: canonical name; page/screen: name
    user_id: Mapped[str | None] = mapped_column(String(255))
    anonymous_id: Mapped[str | None] = mapped_column(String(255))
    group_id: Mapped[str | None] = mapped_column(String(255))
    previous_id: Mapped[str | None] = mapped_column(String(255))
    # Derived: the profile the event was attributed to when it arrived (merges are followed through
    # profiles.merged_into, so this column is written once).
    profile_id: Mapped[str | None] = mapped_column(String(40))
    timestamp: Mapped[datetime]  # corrected for clock skew
    original_timestamp: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    context: Mapped[dict] = mapped_column(default=dict)
    properties: Mapped[dict] = mapped_column(default=dict)
    traits: Mapped[dict] = mapped_column(default=dict)
    extra: Mapped[dict] = mapped_column(default=dict)  # other top-level fields (integrations, channel, name...)
    enrichment: Mapped[dict] = mapped_column(default=dict)  # derived at ingest: local time, daypart, geo


class Profile(Base):
    __tablename__ = "profiles"
    __table_args__ = (Index("ix_profiles_merged_into", "workspace_id", "merged_into"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40), index=True)
    merged_into: Mapped[str | None] = mapped_column(String(40))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)  # holds an identifier too shared to link
    traits: Mapped[dict] = mapped_column(default=dict)
    event_counts: Mapped[dict] = mapped_column(default=dict)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    created_at: Mapped[datetime]  # receipt time of the event that created it: the older profile survives a merge


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (
        Index("ix_identities_profile", "workspace_id", "profile_id", "kind"),
        Index("ix_identities_value", "workspace_id", "value"),
    )

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(40))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    links: Mapped[int] = mapped_column(Integer, default=0)  # other profiles it was seen with
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)


class ProfileMerge(Base):
    """Why two profiles became one (or were kept apart): the message and identifiers that caused it."""

    __tablename__ = "profile_merges"
    __table_args__ = (Index("ix_merges_survivor", "workspace_id", "survivor_id"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(16))  # merged | refused | blocked
    survivor_id: Mapped[str] = mapped_column(String(40))
    other_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(255))
    identifier_kind: Mapped[str] = mapped_column(String(64))
    identifier_value: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]


class Product(Base):
    """The catalog as it is now. Prices are exact decimals; a variant points at its parent product."""

    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_parent", "workspace_id", "parent_id"),
        Index("ix_products_category", "workspace_id", "category"),
    )

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(1000), default="")  # "Home > Decor"
    category_path: Mapped[list] = mapped_column(Json, default=list)
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    sale_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    cost: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    attributes: Mapped[dict] = mapped_column(default=dict)
    image_urls: Mapped[list] = mapped_column(Json, default=list)
    language: Mapped[str | None] = mapped_column(String(35))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProductStock(Base):
    __tablename__ = "product_stock"

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    location: Mapped[str] = mapped_column(String(100), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class CatalogChange(Base):
    """Every change of price, sale price, cost or stock: pricing and inventory-aware decisions read it."""

    __tablename__ = "catalog_changes"
    __table_args__ = (Index("ix_catalog_changes_product", "workspace_id", "product_id", "at"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(255))
    field: Mapped[str] = mapped_column(String(20))  # price | sale_price | cost | stock
    location: Mapped[str | None] = mapped_column(String(100))
    old_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    new_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    source: Mapped[str] = mapped_column(String(20))  # api | import | event
    at: Mapped[datetime]


class ProductSearch(Base):
    """The search index of the catalog, one row per product, kept in step by the catalog service. Its terms
    are analysed in Python (`afinidad.catalog.analysis`) so both stores index exactly the same words: on
    PostgreSQL in `document` (GIN-indexed tsvector), on SQLite in the FTS5 table whose rowid is `id`."""

    __tablename__ = "product_search"
    __table_args__ = (
        UniqueConstraint("workspace_id", "product_id", name="uq_product_search_product"),
        Index("ix_product_search_language", "workspace_id", "language"),
        Index("ix_product_search_document", "document", postgresql_using="gin").ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(35))
    document: Mapped[str | None] = mapped_column(SearchDocument)
    # What filters, facets and sorts read, copied from the product so a search over many matches touches
    # this table only (kept current by the catalog service: upserts, stock and price changes).
    title: Mapped[str | None] = mapped_column(String(500))
    brand: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(1000))
    price: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))  # the price paid: the sale price if any
    in_stock: Mapped[bool] = mapped_column(Boolean, default=True)  # untracked stock counts as in stock
    updated_at: Mapped[datetime | None]


class ConsentChange(Base):
    """Every consent given or withdrawn, per profile and purpose. The state now is the latest change over the
    profile and the profiles merged into it, so merges need no rewrite."""

    __tablename__ = "consent_changes"
    __table_args__ = (Index("ix_consent_changes_profile", "workspace_id", "profile_id", "purpose", "at"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    profile_id: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))  # api | identify | a caller's own label
    text_version: Mapped[str | None] = mapped_column(String(100))
    message_id: Mapped[str | None] = mapped_column(String(255))  # the identify call it came from
    at: Mapped[datetime]  # when the person chose
    recorded_at: Mapped[datetime]


class Suppression(Base):
    """A salted hash of an identifier of an erased person: events carrying it are dropped, so the person is
    not re-created. Only the digest is kept; it cannot be turned back into the identifier."""

    __tablename__ = "suppressions"

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what to whose data, and when: privacy exports and erasures. The subject is a digest, never an
    identifier, so the log itself holds no personal data."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace", "workspace_id", "at"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))  # "secret key afs_AbC1" or "cli"
    action: Mapped[str] = mapped_column(String(40))  # privacy.export | privacy.erase | privacy.retention
    subject: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(default=dict)


class ModelVersion(Base):
    """A trained recommender: its item-to-item weights (a compressed numpy archive), how it was trained, and
    how it scored on a time split of the workspace's own events. One per workspace and kind is active."""

    __tablename__ = "model_versions"
    __table_args__ = (Index("ix_model_versions_active", "workspace_id", "kind", "active"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))  # personal
    algorithm: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict] = mapped_column(default=dict)
    metrics: Mapped[dict] = mapped_column(default=dict)
    trained_at: Mapped[datetime]
    events_until: Mapped[datetime | None]
    users: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)


class Decision(Base):
    """Every choice shown to someone: who, where, what (with scores and reasons), by which model, in what
    context. Outcome events that carry the `decision_id` are joined to it later."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_workspace", "workspace_id", "at"),
                      Index("ix_decisions_profile", "workspace_id", "profile_id"),
                      Index("ix_decisions_version", "workspace_id", "model_version", "at"))  # fmt: skip

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    profile_id: Mapped[str | None] = mapped_column(String(40))
    slot: Mapped[str] = mapped_column(String(40))
    policy: Mapped[str] = mapped_column(String(40))  # personal | popular (cold start or no consent)
    model_version: Mapped[str | None] = mapped_column(String(40))
    items: Mapped[list] = mapped_column(Json, default=list)
    context: Mapped[dict] = mapped_column(default=dict)
    at: Mapped[datetime]


class Segment(Base):
    """A rule over profiles, kept current: its members live in `segment_members`, its size over time in
    `segment_sizes`, and every entry and exit in `segment_changes` (what journeys trigger on)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_segments_name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    # rule: members follow `rule`; rfm / micro: members set by a model (`afinidad segments learn`)
    kind: Mapped[str] = mapped_column(String(20), default="rule", server_default="rule")
    description: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[dict] = mapped_column(Json, default=dict)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    rebuilt_at: Mapped[datetime | None]


class SegmentMember(Base):
    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_profile", "workspace_id", "profile_id"),)

    segment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    since: Mapped[datetime]


class SegmentChange(Base):
    __tablename__ = "segment_changes"
    __table_args__ = (Index("ix_segment_changes_segment", "segment_id", "at"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    segment_id: Mapped[str] = mapped_column(String(40))
    profile_id: Mapped[str] = mapped_column(String(40))
    entered: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class SegmentSize(Base):
    __tablename__ = "segment_sizes"

    segment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(Integer)


class SegmentCursor(Base):
    """How far the segment follower has read a workspace's events (by `events.seq`)."""

    __tablename__ = "segment_cursors"

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class ProfileScore(Base):
    """A prediction stored on a profile (churn, lifetime value, propensity...): what segment rules and
    campaigns read."""

    __tablename__ = "profile_scores"
    __table_args__ = (Index("ix_profile_scores_name", "workspace_id", "name"),)

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(40))
    scored_at: Mapped[datetime]


class ContentBlock(Base):
    """A place on a site, app or e-mail (`hero`, `banner`, `offer`) and its variants, each with optional
    targeting; `policy` says how one is chosen (fixed weights, a sticky experiment, or a bandit)."""

    __tablename__ = "content_blocks"
    __table_args__ = (UniqueConstraint("workspace_id", "slot", name="uq_content_blocks_slot"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    slot: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(String(20))
    variants: Mapped[list] = mapped_column(Json, default=list)
    experiment: Mapped[str | None] = mapped_column(String(40))  # the key of the experiment that assigns, if any
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Experiment(Base):
    """An A/B/n test: its definition (variants, split, targeting, metrics) as checked by
    `decide.experiments`, and its life: draft, running, stopped (with the variant shipped, if any). Its
    exposures are decisions whose `model_version` is the experiment's id."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_experiments_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    definition: Mapped[dict] = mapped_column(default=dict)
    shipped: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class PriceProposal(Base):
    """A price the pricing rule proposed for a product, with its reason and expected effect, waiting for a
    person (proposed -> applied / rejected; a newer proposal supersedes an open one)."""

    __tablename__ = "price_proposals"
    __table_args__ = (Index("ix_price_proposals_product", "workspace_id", "product_id", "created_at"),
                      Index("ix_price_proposals_status", "workspace_id", "status"))  # fmt: skip

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    current_price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    elasticity: Mapped[float] = mapped_column(Float)
    expected: Mapped[dict] = mapped_column(default=dict)  # units, revenue, margin changes; inputs used
    binding: Mapped[list] = mapped_column(Json, default=list)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)


class CompetitorPrice(Base):
    """The latest price a competitor feed reported for a product (one row per product and competitor)."""

    __tablename__ = "competitor_prices"

    workspace_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    competitor: Mapped[str] = mapped_column(String(100), primary_key=True)
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    currency: Mapped[str] = mapped_column(String(3))
    observed_at: Mapped[datetime]


class ContentPiece(Base):
    """A piece of generated copy: the brief it answers, its fields, who wrote it (the offline generator or a
    provider), its check findings, and where it stands (draft -> in_review -> approved / rejected). Editing
    makes a new version; `content_history` keeps every step."""

    __tablename__ = "content_pieces"
    __table_args__ = (Index("ix_content_pieces_status", "workspace_id", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    fields: Mapped[dict] = mapped_column(default=dict)
    brief: Mapped[dict] = mapped_column(default=dict)
    products: Mapped[list] = mapped_column(Json, default=list)  # product ids it was written from
    findings: Mapped[list] = mapped_column(Json, default=list)
    writer: Mapped[str] = mapped_column(String(100))  # "offline" or the provider's model
    batch: Mapped[str] = mapped_column(String(40))  # the variants of one brief share it
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContentHistory(Base):
    """Who did what to a piece, and when: generated, edited (with the fields before), submitted, approved,
    rejected, commented."""

    __tablename__ = "content_history"
    __table_args__ = (Index("ix_content_history_piece", "workspace_id", "piece_id", "at"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(40))
    piece_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(Json)
    at: Mapped[datetime]
