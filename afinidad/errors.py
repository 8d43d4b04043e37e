"""Every error a capability raises on purpose. The API maps each class to one HTTP status, once, in
`afinidad.api.problems`; the CLI prints them. Nothing else needs to know about HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with the input: where (a dotted path such as `batch[3].properties.price`) and why."""

    field: str
    reason: str
    index: int | None = None  # position in a batch, when the input was a batch


class AfinidadError(Exception):
    """Base of the errors the platform raises deliberately."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(AfinidadError):
    title = "Invalid input"

    def __init__(self, detail: str, problems: list[FieldProblem]) -> None:
        super().__init__(detail)
        self.problems = problems


class PayloadTooLarge(AfinidadError):
    title = "Payload too large"

    def __init__(self, detail: str, limit: int, field: str = "body") -> None:
        super().__init__(detail)
        self.limit = limit
        self.field = field


class Unauthorized(AfinidadError):
    title = "Unauthorized"


class Forbidden(AfinidadError):
    title = "Forbidden"


class NotFound(AfinidadError):
    title = "Not found"


class Conflict(AfinidadError):
    title = "Conflict"


class RateLimited(AfinidadError):
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class MappingError(AfinidadError):
    """An import mapping that cannot be used: bad TOML, unknown key, bad template, or columns the file lacks."""

    title = "Invalid mapping"


class UnsupportedFile(AfinidadError):
    """A file the importer cannot read at all (as opposed to rows it reads and rejects)."""

    title = "Unsupported file"


def field_problems(error: ValidationError, root: str) -> list[FieldProblem]:
    """pydantic's errors as field problems: a dotted path (or `root` for the whole object) and a reason."""
    return [FieldProblem(".".join(str(part) for part in item["loc"]) or root,
                         item["msg"].removeprefix("Value error, "))
            for item in error.errors(include_url=False)]  # fmt: skip
