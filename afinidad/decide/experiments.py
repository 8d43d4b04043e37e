"""What an experiment is, checked before it is stored: its variants and their split of the traffic, whom it
targets, and the metrics it is judged on, each defined on the workspace's events. Pure: the service stores
and assigns, `outcomes` turns events into per-unit values, `results` analyses them.

A metric is read per unit (profile) from the events after the unit's first exposure, optionally within
`window_days` of it; the same metric over the `cuped_days` before that exposure is the CUPED covariate.

- `conversion`: 1 if the unit did `event` at least once, else 0 (a custom event is a conversion too);
- `count`: how many times it did `event`;
- `revenue`: the sum of `property` (default `revenue`) over its `event`s, i.e. revenue per user;
- `ratio`: the sum of `property` (or the count, without one) over `event`, divided by the count of
  `denominator_event` across units (delta method): revenue per order, clicks per view...

Guardrails are metrics too: the experiment flags a variant that makes one of them worse."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from afinidad.decide.blocks import known_context
from afinidad.errors import FieldProblem, InvalidInput, field_problems

Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
Kind = Literal["conversion", "count", "revenue", "ratio"]
Status = Literal["draft", "running", "stopped"]
FilterValue = str | int | float | bool


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=60)]
    kind: Kind = "conversion"
    event: Annotated[str, Field(min_length=1, max_length=255)]
    property: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    where: dict[Annotated[str, Field(max_length=100)], FilterValue] = Field(
        default_factory=dict, description="Only events whose properties equal these values count."
    )
    denominator_event: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    window_days: Annotated[float, Field(gt=0, le=365)] | None = None
    higher_is_better: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if self.kind == "ratio" and self.denominator_event is None:
            raise ValueError("a ratio metric needs a denominator_event")
        if self.kind != "ratio" and self.denominator_event is not None:
            raise ValueError("denominator_event is only for ratio metrics")
        if self.kind in ("conversion", "count") and self.property is not None:
            raise ValueError(f"a {self.kind} metric counts events; it reads no property")
        if self.kind == "revenue" and self.property is None:
            self.property = "revenue"
        return self


class ExperimentVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key
    weight: Annotated[float, Field(ge=0, le=100)]
    content: dict[str, Any] = Field(default_factory=dict, description="Returned with the assignment, if any.")


class Targeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: Annotated[str, Field(max_length=100)] | None = None
    when: dict[str, list[Annotated[str, Field(max_length=100)]]] = Field(default_factory=dict)

    @field_validator("when")
    @classmethod
    def _known(cls, when: dict[str, list[str]]) -> dict[str, list[str]]:
        return known_context(when)


class Experiment(BaseModel):
    """An experiment as the API receives it (`status` is set by starting and stopping, not here)."""

    model_config = ConfigDict(extra="forbid")

    key: Key
    name: Annotated[str, Field(max_length=200)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    variants: Annotated[list[ExperimentVariant], Field(min_length=2, max_length=20)]
    control: Key | None = Field(None, description="The variant the others are compared with; the first by default.")
    traffic: Annotated[float, Field(gt=0, le=100)] = Field(100, description="Percent of eligible units that enter.")
    targeting: Targeting = Field(default_factory=Targeting)
    metrics: Annotated[list[Metric], Field(min_length=1, max_length=10)] = Field(
        description="Goal metrics; the first is the primary one the verdict is about."
    )
    guardrails: Annotated[list[Metric], Field(max_length=10)] = Field(default_factory=list)
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"
    cuped_days: Annotated[float, Field(ge=0, le=365)] = Field(
        14, description="Pre-exposure days whose same metric is the CUPED covariate; 0 turns CUPED off."
    )
    planned_units_per_arm: Annotated[int, Field(ge=10, le=100_000_000)] = Field(
        1000, description="Where the always-valid intervals are tightest; they stay valid at every other size."
    )

    @field_validator("variants")
    @classmethod
    def _a_split(cls, variants: list[ExperimentVariant]) -> list[ExperimentVariant]:
        ids = [variant.id for variant in variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        total = sum(variant.weight for variant in variants)
        if abs(total - 100) > 0.01:  # 33.33 + 33.33 + 33.33 is a split, 99 is not
            raise ValueError(f"the variants' traffic sums to {total:g}%, not 100%")
        return variants

    @field_validator("control")
    @classmethod
    def _a_variant(cls, control: str | None, info: ValidationInfo) -> str | None:
        ids = [variant.id for variant in info.data.get("variants") or []]
        if control is not None and ids and control not in ids:
            raise ValueError(f"{control!r} is not one of the variants ({', '.join(ids)})")
        return control

    @field_validator("guardrails")
    @classmethod
    def _distinct_names(cls, guardrails: list[Metric], info: ValidationInfo) -> list[Metric]:
        names = [metric.name for metric in (*(info.data.get("metrics") or []), *guardrails)]
        if len(set(names)) != len(names):
            raise ValueError("metric and guardrail names must be unique")
        return guardrails

    @model_validator(mode="after")
    def _default_control(self) -> Experiment:
        if self.control is None:
            self.control = self.variants[0].id
        return self

    @property
    def weights(self) -> dict[str, float]:
        return {variant.id: variant.weight for variant in self.variants}


# What may change once units have been assigned: changing variants or their split would mix two experiments
# in one analysis. Raising (or lowering) the traffic only adds (or stops adding) units.
CHANGEABLE_WHILE_RUNNING = ("name", "description", "traffic", "metrics", "guardrails", "alpha", "correction",
                            "cuped_days", "planned_units_per_arm")  # fmt: skip


def check_experiment(raw: dict[str, Any]) -> Experiment:
    """An experiment as sent, checked; every problem names its field."""
    try:
        return Experiment.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput("Invalid experiment; nothing was changed.", field_problems(error, "experiment")) from error


def check_metric(raw: dict[str, Any], field: str = "metric") -> Metric:
    try:
        return Metric.model_validate(raw)
    except ValidationError as error:
        problems = [FieldProblem(f"{field}.{p.field}" if p.field != field else field, p.reason)
                    for p in field_problems(error, field)]  # fmt: skip
        raise InvalidInput("Invalid metric.", problems) from error
