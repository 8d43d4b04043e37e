"""A brand kit: how a brand speaks and what it must never say. The generators write in its voice; the
checker holds every piece to it, whichever provider wrote it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from afinidad.content.channels import CONTENT_TYPES
from afinidad.content.language import known
from afinidad.errors import InvalidInput, field_problems

Tone = Literal["friendly", "formal", "playful", "luxury", "bold"]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]

# Claims no brand may make in marketing without proof (and some never): guarantees of outcome, health
# promises, superlatives a regulator asks to substantiate.
DEFAULT_BANNED_CLAIMS: tuple[str, ...] = (
    "guaranteed", "guarantee", "100% safe", "risk-free", "risk free", "miracle", "cure", "cures", "heals",
    "treats", "prevents disease", "clinically proven", "doctor recommended", "best in the world", "no side effects",
    "garantizado", "garantizada", "sin riesgo", "milagro", "milagroso", "cura", "curar", "sana", "previene",
    "clínicamente probado", "el mejor del mundo", "sin efectos secundarios",
)  # fmt: skip


class BrandKit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    languages: Annotated[list[str], Field(min_length=1, max_length=20)] = Field(default_factory=lambda: ["en"])
    tone: Tone = "friendly"
    spanish_address: Literal["tu", "usted"] = Field("tu", description="Tú or usted when writing in Spanish.")
    words_to_use: list[Phrase] = Field(default_factory=list)
    words_to_avoid: list[Phrase] = Field(default_factory=list)
    banned_claims: list[Phrase] = Field(default_factory=lambda: list(DEFAULT_BANNED_CLAIMS))
    disclaimers: dict[str, list[Annotated[str, Field(min_length=1, max_length=500)]]] = Field(
        default_factory=dict,
        description="Required text per content type ('*' for every type), in one language with a suffix: 'email:es'.",
    )
    emoji: Literal["none", "few", "any"] = Field("few", description="few: at most two per piece.")
    min_reading_ease: Annotated[float, Field(ge=0, le=100)] | None = Field(
        None, description="Flesch reading ease (English) or Fernández-Huerta (Spanish) at least this."
    )
    contact: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, description="The brand's own e-mail addresses and phones, allowed in copy."
    )
    max_sms_segments: Annotated[int, Field(ge=1, le=10)] = 2

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, codes: list[str]) -> list[str]:
        unknown = [code for code in codes if not known(code)]
        if unknown:
            raise ValueError(f"unknown ISO 639-1 codes {unknown}")
        return [code.lower() for code in codes]

    @field_validator("disclaimers")
    @classmethod
    def _known_types(cls, disclaimers: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(key for key in disclaimers if key.split(":")[0] not in (*CONTENT_TYPES, "*")
                         or (":" in key and not known(key.split(":", 1)[1])))  # fmt: skip
        if unknown:
            raise ValueError(f"unknown keys {unknown}; a content type ({', '.join(CONTENT_TYPES)}) or '*', "
                             "optionally with ':' and a language code")  # fmt: skip
        return disclaimers

    def disclaimers_for(self, content_type: str, language: str | None = None) -> list[str]:
        """The disclaimers a piece must carry: for every type and for its type, in every language and in its."""
        keys = ["*", content_type] + ([f"*:{language}", f"{content_type}:{language}"] if language else [])
        return [text for key in keys for text in self.disclaimers.get(key, [])]


def check_brand_kit(raw: dict) -> BrandKit:
    try:
        return BrandKit.model_validate(raw)
    except ValidationError as error:
        raise InvalidInput("Invalid brand kit; nothing was changed.", field_problems(error, "brand_kit")) from error
