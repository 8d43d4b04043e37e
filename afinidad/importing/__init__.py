"""What every file import shares: reading CSV and JSON lines (gzip too), the template language of mappings, its
conversions, ``[source]`` and the conditions of ``[[when]]`` rules.

Why this exists: events (`afinidad.tracking.importer`) and products (`afinidad.catalog.importer`) come from
the same kinds of files, and a user who learnt one mapping format should not have to learn another. Each
importer adds its own sections; this package holds what they have in common. It does no I/O beyond reading
the file.

Templates
---------
Every value of a mapping is a *template* over the CSV's columns (header names):

- ``"{CustomerID}"`` the cell; ``"guest-{InvoiceNo}"`` text around cells; ``"{{"``/``"}}"`` literal braces.
- ``"{Quantity|int}"`` converts. Conversions chain left to right (``"{CustomerID|int|str}"``). A template
  that is one placeholder keeps the converted type (int, list, object...); a template with text around it is
  a string.

  Text to a value: ``str``, ``int`` (``"17850.0"`` -> 17850), ``float``, ``decimal`` (exact, for money:
  ``"2.55"`` stays 2.55; catalog mappings only, as events carry JSON numbers), ``bool`` (true/false,
  yes/no, 1/0...), ``lower``, ``upper``, ``datetime`` (ISO 8601 with offset; input format and zone from
  ``[source]``). A value an earlier step made (an int) is written as text first. And:

  ``json``
      The cell is JSON: ``"[\\"a\\", \\"b\\"]"`` -> a list.
  ``ruby_hash``
      The cell is Ruby's ``Hash#inspect`` text, as some scrapers and Rails exports write nested data:
      ``{"key"=>"value", "n"=>1, "x"=>nil}`` -> an object (``:symbols`` become strings, ``nil`` null).
  ``split(SEP)``
      Text -> the list of its parts between SEPs, each stripped, empty parts dropped:
      ``"Home >> Decor"`` with ``split(>)`` -> ``["Home", "Decor"]``.
  ``first``
      A list -> its first element (a JSON list holding one path: ``"{Tree|json|first|split(>)}"``).
  ``get(KEY)``
      An object -> its value at KEY.
  ``key_values``
      A list of ``{"key": k, "value": v}`` objects (or one such object) -> the object ``{k: v, ...}``;
      entries without a key are dropped.

  An argument is the text between the parentheses, taken as written; it cannot hold ``|``, ``{`` or ``}``.
  A conversion that gets a value of the wrong kind (``first`` of text) fails like a bad cell. One that finds
  nothing (``first`` of ``[]``, ``get`` of an absent key, ``split`` of separators only, ``key_values`` with
  no key) renders *missing*.
- ``"{traits?|json}"``: ``?`` marks a column the file may lack (then always empty).
- Missing: a template referencing an empty cell renders *missing*, and the field is left out
  (``"guest-{InvoiceNo}"`` with an empty InvoiceNo is missing too, never ``"guest-"``). Objects left empty
  are left out as well. Cells are stripped of surrounding blanks first (``[source] strip``).
- A list is a fallback: ``["{Email}", "{Phone}"]`` -- the first alternative that is not missing wins.
- Numbers and booleans are constants; a string without placeholders is a constant string.
- A conversion that fails (``Quantity = "abc"`` with ``|int``) rejects the row, naming column and line.

``[source]``
------------
``delimiter`` (``","``), ``encoding`` (``"utf-8"``, a BOM is dropped; any ASCII-compatible codec),
``strip`` (true: cells lose surrounding blanks), ``timezone`` (``"UTC"``: the zone of date-times written
without an offset), ``datetime_format`` (a ``strptime`` format; default: ISO 8601 as
``datetime.fromisoformat`` reads it), ``empty_values`` (``[]``: cells written exactly like one of these,
after stripping, are read as empty, e.g. ``["N/A", "No rating available"]``).

``[[when]]`` conditions
-----------------------
A rule tests one row's cell: ``column`` plus one or more of ``equals = "x"``, ``starts_with = "C"``,
``empty = true|false``, ``matches = "regex"`` (Python syntax; the whole cell must match:
``"-.*|0(\\.0*)?"`` is "negative or zero"); all must hold. What a matching rule then does is the
importer's: see its docstring.

Files
-----
JSON lines (``.jsonl``, ``.ndjson``, ``.json``; one object per line, blank lines skipped, a whole-file
JSON array refused) or CSV (``.csv``); either may be gzip-compressed (``.csv.gz``), which is recognised from
the bytes. Line numbers are physical lines, the CSV header being line 1, so a cell with line breaks in
quotes does not shift the numbers of the rows after it.

Modules
-------
``files`` (formats, gzip, JSON lines, CSV rows), ``templates`` (the template language), ``conversions``
(``|int``, ``|split(>)``...), ``mapping`` (``[source]``, shapes, ``[[when]]``, ready mappings by name),
``binding`` (a mapping bound to a header), ``results`` (`RejectedRow`), ``missing`` (`MISSING`).
"""

from __future__ import annotations

from afinidad.importing.missing import MISSING
from afinidad.importing.results import Problem, RejectedRow

__all__ = ["MISSING", "Problem", "RejectedRow"]
