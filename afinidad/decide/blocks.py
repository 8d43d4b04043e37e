"""Adaptive content blocks: what a block is (variants, each with the context and segment it is meant for),
checked before it is stored, and which variants a request may see. Pure: the service stores blocks and
logs decisions; the policy modules choose among the eligible variants.

A variant with no `when` and no `segment` is for everyone. `when` lists allowed values per context
dimension (`daypart`, `week_part`, `device`, `channel`, `country`, `city`, `weather`, `temperature`, as
`recommend.context.of_request` reads a request); a request that does not state a dimension does not match
a variant that requires it. When no variant matches, the block falls back to its variants for everyone,
and when there are none, the answer is an explicit "nothing to show"."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from afinidad.errors import InvalidInput, field_problems
from afinidad.recommend.context import SINGLE

Policy = Literal["fixed", "experiment", "bandit", "contextual"]
CONTEXT_FEATURES = 64  # hashed slots of `dimension=value` and `segment=name` for the contextual policy


def known_context(when: dict[str, list[str]]) -> dict[str, list[str]]:
    """Targeting by context names only dimensions requests carry."""
    unknown = sorted(set(when) - set(SINGLE))
    if unknown:
        raise ValueError(f"unknown context {unknown}; one of {', '.join(SINGLE)}")
    return when


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
    content: dict[str, Any] = Field(description="What the page shows: copy, image, link, offer...")
    weight: Annotated[float, Field(ge=0, le=100)] = Field(
        0,
        description="Percent of traffic for fixed and experiment policies: the untargeted variants' weights "
        "sum to 100; targeted variants split the requests they fit by their weights (equally when all are 0).",
    )
    when: dict[str, list[Annotated[str, Field(max_length=100)]]] = Field(default_factory=dict)
    segment: Annotated[str, Field(max_length=100)] | None = None

    @field_validator("when")
    @classmethod
    def _known(cls, when: dict[str, list[str]]) -> dict[str, list[str]]:
        return known_context(when)


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
    description: Annotated[str, Field(max_length=2000)] | None = None
    policy: Policy = "fixed"
    experiment: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        None,
        description="With the experiment policy: the key of an experiment that assigns the variants "
        "(by id), logs exposures and reports results; its split replaces the weights here.",
    )
    variants: Annotated[list[Variant], Field(min_length=1, max_length=50)]

    @model_validator(mode="after")
    def _consistent(self) -> Block:
        ids = [variant.id for variant in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        general = [variant for variant in self.variants if not variant.when and variant.segment is None]
        if self.experiment is not None and self.policy != "experiment":
            raise ValueError("an experiment key goes with the experiment policy")
        linked = self.experiment is not None  # the experiment's split is the one that counts
        if self.policy in ("fixed", "experiment") and general and not linked:  # bandits find their own weights
            # targeted variants replace the general ones for the requests they fit, so their weights share
            # that traffic among themselves; the general variants' weights are the split of everyone else
            total = sum(variant.weight for variant in general)
            if abs(total - 100) > 0.01:
                raise ValueError(f"the untargeted variants' weights sum to {total:g}%, not 100%")
        return self


def check_block(raw: dict[str, Any]) -> Block:
    """A block as sent, checked; every problem names its field."""
    try:
        return Block.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput("Invalid content block; nothing was changed.", field_problems(error, "block")) from error


def eligible(variants: list[dict[str, Any]], context: dict[str, str], segments: set[str]) -> list[dict[str, Any]]:
    """The variants this request may see: the targeted ones that match, else the untargeted ones."""
    targeted, general = [], []
    for variant in variants:
        when, segment = variant.get("when") or {}, variant.get("segment")
        if not when and not segment:
            general.append(variant)
            continue
        fits = all(context.get(name) in allowed for name, allowed in when.items())
        if fits and (segment is None or segment in segments):
            targeted.append(variant)
    return targeted or general


def context_features(given: Mapping[str, str], segments: Iterable[str]) -> np.ndarray:
    """What the contextual policy reads of a request: each `dimension=value` (daypart, device, weather...)
    and each segment the person is in sets one of `CONTEXT_FEATURES` slots, by a stable hash, so every server
    agrees and there is no vocabulary to keep; a rare collision only blurs two values together."""
    x = np.zeros(CONTEXT_FEATURES)
    for key in [f"{name}={value}" for name, value in given.items()] + [f"segment={name}" for name in segments]:
        x[int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % CONTEXT_FEATURES] = 1.0
    return x
