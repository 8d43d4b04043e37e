"""Read an export file as Segment messages, one at a time, with every bad row reported by its line.

Why this exists: `afinidad import events FILE` brings in histories people already have (a year of orders
from a shop, a warehouse dump) as the very messages Segment's HTTP API receives, so nothing downstream can
tell an imported order from a tracked one. It is pure: it reads the file and yields; the CLI chunks, stores
and shows progress. Memory stays flat however long the file is: one record (or one open group of rows)
at a time, plus the keys of groups already emitted (see `read_events`).

Files
-----
- JSON lines (``.jsonl``, ``.ndjson``, ``.json``): one Segment message per line, kept as written.
  A line that is not a JSON object, or has no known ``type``, or neither ``userId`` nor ``anonymousId``,
  is a `RejectedRow`. Blank lines are skipped. A whole-file JSON array is refused (`UnsupportedFile`).
- CSV (``.csv``): rows become messages through an `EventMapping` (default: the ready ``segment-csv``).
- Either may be gzip-compressed (``.csv.gz``, ``.jsonl.gz``); compression is recognised from the bytes.

Every message gets a ``messageId``: from the mapping, or, when none is given, ``import-`` + a hash of the
message's content. So importing the same file twice yields the same ids and the store keeps one copy
(exactly identical messages without an id of their own collapse into one, by the same rule).

Mapping format (TOML; ready ones live in ``afinidad/tracking/mappings/``)
-----------------------------------------------------------------------
Every value is a *template* over the CSV's columns: ``"{CustomerID}"``, ``"guest-{InvoiceNo}"``,
``"{Quantity|int}"``, ``"{InvoiceDate|datetime}"``; a list is a fallback, an empty cell leaves the field out.
The template language, its conversions, ``[source]`` and the conditions of ``[[when]]`` are shared with
catalog mappings and documented in `afinidad.importing`. A conversion that fails rejects the row, naming
column and line; in a group, the whole group is rejected (never half an order).

Sections (all optional but ``[message]``; unknown keys are errors, to catch typos):

``[source]``
    How to read the file (delimiter, encoding, time zone, date-time format, empty values): see
    `afinidad.importing`.
``[message]``
    The message's shape; nested tables or dotted keys (``properties.order_id = "{InvoiceNo}"``,
    ``context.location.country = "{Country}"``). ``type`` is required. Rendered from the group's first row.
    ``type``, ``event``, ``messageId``, ``userId``, ``anonymousId``, ``previousId``, ``groupId`` and ``name``
    are sent as strings, as Segment expects.
``[identity]``
    Ordered id fields; the first that is not missing is set and the others are not. For files where a
    known customer has an id and a guest gets an anonymous one::

        userId = "{CustomerID|int}"
        anonymousId = "guest-{InvoiceNo}"

``[[when]]``
    Conditional overrides, tested on the (first) row: ``column`` plus one or more of ``equals = "x"``,
    ``starts_with = "C"``, ``empty = true|false``, ``matches = "regex"``; all must hold. ``set`` is merged
    over ``[message]`` (``set.event = "Order Refunded"``). Later matching rules win over earlier ones.
``[group]``
    ``by`` (a template, e.g. ``"{InvoiceNo}"``): rows with the same key become ONE message, whose rows
    each render ``[group.item]`` into a list placed at ``into`` (e.g. ``"properties.products"``).
    ``window`` (0): a group stays open until this many rows have passed without one of its rows, so files
    where a group is interrupted by a few other rows still make one message. A row whose group already
    ended is rejected with a reason saying so (raise ``window`` or sort the file); that group's earlier
    message has already been yielded. Open groups are emitted when they close, i.e. roughly in file order.
``[totals]``
    Numbers computed over a group's items and placed at their (dotted) key:
    ``properties.revenue = "sum(quantity * price)"`` -- the sum over items of the product of the named item
    fields, computed in decimal (2.55 * 6 is 15.3, not 15.299999999999999). An item lacking one of the
    fields rejects the group.
``description``
    A line shown when listing ready mappings.

Modules
-------
``reader`` (`read_events`), ``grouping`` (rows to messages, one per row or one per group), ``mapping``
(`EventMapping`, TOML parsing, the ready mappings), ``rendering`` (a mapping bound to a header), ``totals``
(``[totals]`` sums), ``segment`` (what Segment expects of a message), ``results`` (what reading yields).
Reading files, templates and conversions are `afinidad.importing`'s. `MappingError` and `UnsupportedFile`
live in `afinidad.errors`.
"""

from __future__ import annotations

from afinidad.errors import MappingError, UnsupportedFile
from afinidad.tracking.importer.mapping import EventMapping, available_mappings, load_mapping, parse_mapping
from afinidad.tracking.importer.reader import read_events
from afinidad.tracking.importer.results import ImportedMessage, RejectedRow

__all__ = [
    "EventMapping",
    "ImportedMessage",
    "MappingError",
    "RejectedRow",
    "UnsupportedFile",
    "available_mappings",
    "load_mapping",
    "parse_mapping",
    "read_events",
]
