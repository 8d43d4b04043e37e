"""Structured JSON logs that never carry secrets or personal contact data.

Redaction happens in the formatter, on the final text, so it also covers messages from libraries
(uvicorn, SQLAlchemy) and exception tracebacks, not only our own calls."""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

_REDACTIONS = (
    (re.compile(r"\bafs_[A-Za-z0-9_\-]{8,}"), "afs_[REDACTED]"),
    (re.compile(r"\bafw_[A-Za-z0-9_\-]{8,}"), "afw_[REDACTED]"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)\s+[A-Za-z0-9+/=._\-]+"), r"\1\2 [REDACTED]"),
    (
        re.compile(r"(?i)(password|passwd|secret|api_key|apikey|token)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1[REDACTED]@"),  # passwords in URLs
    (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
    (re.compile(r"(?<![\w.:])\+?\d[\d\s()\-]{7,}\d(?![\w.:])"), "[PHONE]"),
    (re.compile(r"(?<![\w.])\d{3}\.\d{3}\.\d{4}(?![\w.])"), "[PHONE]"),
)  # fmt: skip
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(orjson.dumps(entry, default=str).decode())


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str = "INFO", json_output: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_output else RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # we log requests ourselves
