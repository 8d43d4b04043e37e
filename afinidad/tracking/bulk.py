"""Bulk import of event files: the same validation, rows and storage as the HTTP API, in large
transactions, with every refused row kept for the report.

Messages from files are not held to Segment's 32 KB rule (a wholesale order of 1,000 lines is a real
order); `import_max_message_bytes` guards against absurd ones instead."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from afinidad.errors import InvalidInput, PayloadTooLarge
from afinidad.settings import Settings
from afinidad.store.engine import Store
from afinidad.tracking.importer import EventMapping, ImportedMessage, RejectedRow, read_events
from afinidad.tracking.records import event_rows
from afinidad.tracking.service import store_events
from afinidad.tracking.validation import validate_message


@dataclass
class ImportReport:
    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    rows_read: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)


def import_file(
    store: Store,
    workspace_id: str,
    path: Path,
    settings: Settings,
    *,
    mapping: EventMapping | None = None,
    chunk_size: int = 1000,
    on_progress: Callable[[int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import `path` into the workspace; `on_progress(bytes_read, report)` is called as it goes."""
    position = 0

    def track_position(done: int) -> None:
        nonlocal position
        position = done

    return import_messages(
        store,
        workspace_id,
        read_events(path, mapping, on_progress=track_position),
        settings,
        chunk_size=chunk_size,
        on_progress=(lambda report: on_progress(position, report)) if on_progress else None,
    )


def import_messages(
    store: Store,
    workspace_id: str,
    items: Iterable[ImportedMessage | RejectedRow],
    settings: Settings,
    *,
    chunk_size: int = 1000,
    on_progress: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Validate and store messages (from a file, a simulator, another system) one chunk per transaction."""
    report = ImportReport()
    pending: list[dict] = []

    def flush() -> None:
        if pending:
            with store.session() as session:
                flags = store_events(session, workspace_id, pending, settings)
            report.stored += sum(flags)
            report.duplicates += len(flags) - sum(flags)
            pending.clear()
        if on_progress:
            on_progress(report)

    for item in items:
        if isinstance(item, RejectedRow):
            report.rejected.append(item)
            report.rows_read += 1
            continue
        report.rows_read += item.rows
        row = _row_for(item, workspace_id, settings, report)
        if row is None:
            continue
        report.messages += 1
        pending.append(row)
        if len(pending) >= chunk_size:
            flush()
    flush()
    return report


def _row_for(item: ImportedMessage, workspace_id: str, settings: Settings, report: ImportReport) -> dict | None:
    try:
        incoming, problems = validate_message(item.message, None, max_bytes=settings.import_max_message_bytes)
        if problems or incoming is None:
            first = problems[0]
            report.rejected.append(RejectedRow(item.line, first.reason, first.field))
            return None
        (row,) = event_rows(
            [incoming],
            workspace_id=workspace_id,
            received_at=datetime.now(UTC).replace(tzinfo=None),
            max_future_seconds=settings.max_future_seconds,
        )
        return row
    except (InvalidInput, PayloadTooLarge) as error:
        problems = getattr(error, "problems", None)
        field_name = problems[0].field if problems else getattr(error, "field", None)
        reason = problems[0].reason if problems else error.detail
        report.rejected.append(RejectedRow(item.line, reason, field_name))
        return None
