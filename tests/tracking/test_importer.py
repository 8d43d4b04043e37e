"""The importer turns files into Segment messages and accounts for every row it could not import."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from afinidad.tracking.importer import (
    ImportedMessage,
    MappingError,
    RejectedRow,
    UnsupportedFile,
    available_mappings,
    load_mapping,
    parse_mapping,
    read_events,
)

ONLINE_RETAIL = Path(__file__).parents[2] / "../shared/data/uci-online-retail/online_retail.csv.gz"

SHOP_MAPPING = """
[source]
timezone = "Europe/London"
datetime_format = "%d/%m/%Y %H:%M"

[group]
by = "{Order}"
into = "properties.products"

[group.item]
product_id = "{Sku}"
name = ["{Name}", "{Sku}"]
quantity = "{Qty|int}"
price = "{Price|float}"

[message]
type = "track"
event = "Order Completed"
messageId = "shop-{Order}"
timestamp = "{Date|datetime}"
properties.order_id = "{Order}"
properties.currency = "GBP"

[identity]
userId = "{Customer|int}"
anonymousId = "guest-{Order}"

[totals]
properties.revenue = "sum(quantity * price)"

[[when]]
column = "Order"
starts_with = "C"
set.event = "Order Refunded"
"""

HEADER = "Order,Sku,Name,Qty,Price,Date,Customer\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_all(path: Path, mapping_text: str | None = None, **kwargs):
    mapping = parse_mapping(mapping_text, "test") if mapping_text is not None else None
    return list(read_events(path, mapping, **kwargs))


def split(results):
    messages = [item for item in results if isinstance(item, ImportedMessage)]
    rejected = [item for item in results if isinstance(item, RejectedRow)]
    return messages, rejected


def test_consecutive_rows_of_an_order_become_one_message_with_products_and_exact_revenue(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        HEADER
        + "1001,A1,Lamp,6,2.55,01/12/2010 08:26,17850.0\n"
        + "1001,B2,,2,0.1,01/12/2010 08:26,17850.0\n"
        + "1002,A1,Lamp,1,2.55,15/06/2011 10:00,\n"
        + "C1003,A1,Lamp,-1,2.55,16/06/2011 11:00,17850.0\n",
    )
    messages, rejected = split(read_all(path, SHOP_MAPPING))

    assert rejected == []
    assert [m.line for m in messages] == [2, 4, 5]
    assert [m.rows for m in messages] == [2, 1, 1]
    first, guest, refund = (m.message for m in messages)
    assert first["userId"] == "17850" and "anonymousId" not in first
    assert first["properties"]["products"] == [
        {"product_id": "A1", "name": "Lamp", "quantity": 6, "price": 2.55},
        {"product_id": "B2", "name": "B2", "quantity": 2, "price": 0.1},  # empty Name falls back to Sku
    ]
    assert first["properties"]["revenue"] == 15.5  # 15.3 + 0.2 in decimal, not 15.499999999999998
    assert first["timestamp"] == "2010-12-01T08:26:00+00:00"  # London in winter
    assert guest["anonymousId"] == "guest-1002" and "userId" not in guest
    assert guest["timestamp"] == "2011-06-15T10:00:00+01:00"  # London in summer
    assert first["event"] == guest["event"] == "Order Completed"
    assert refund["event"] == "Order Refunded"
    assert refund["properties"]["revenue"] == -2.55


def test_a_bad_cell_rejects_the_whole_order_with_line_numbers_and_the_column(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        HEADER
        + "1001,A1,Lamp,1,2.55,01/12/2010 08:26,1\n"  # line 2
        + "1002,A1,Lamp,2,2.55,01/12/2010 08:27,2\n"  # line 3
        + "1002,B2,Vase,abc,1.00,01/12/2010 08:27,2\n"  # line 4: bad quantity
        + "1002,C3,Cup,1,1.00,01/12/2010 08:27,2\n"  # line 5
        + "1003,A1,Lamp,1,2.55,01/12/2010 08:28,3\n",  # line 6
    )
    messages, rejected = split(read_all(path, SHOP_MAPPING))

    assert [m.message["messageId"] for m in messages] == ["shop-1001", "shop-1003"]
    assert [r.line for r in rejected] == [3, 4, 5]  # no half order: every row of 1002 is accounted for
    bad = rejected[1]
    assert bad.field == "Qty"
    assert "'abc' is not an integer" in bad.reason
    assert all("see line(s) 4" in r.reason and r.field is None for r in (rejected[0], rejected[2]))
    assert sum(m.rows for m in messages) + len(rejected) == 5


def test_a_bad_order_level_cell_is_reported_on_the_first_row(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        HEADER + "1001,A1,Lamp,1,2.55,yesterday,1\n" + "1001,B2,Vase,1,1.00,yesterday,1\n",
    )
    messages, rejected = split(read_all(path, SHOP_MAPPING))

    assert messages == []
    assert [(r.line, r.field) for r in rejected] == [(2, "Date"), (3, None)]
    assert "'yesterday' is not a date-time" in rejected[0].reason


def test_malformed_rows_are_rejected_with_their_physical_line(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        HEADER
        + '1001,A1,"Lamp, tall\nwith shade",1,2.55,01/12/2010 08:26,1\n'  # lines 2-3: one record
        + "1002,A1,Lamp,1,2.55\n"  # line 4: too few columns
        + ",A1,Lamp,1,2.55,01/12/2010 08:26,1\n"  # line 5: no order number
        + "\n"  # line 6: blank, not a row
        + "1003,A1,Lamp,1,2.55,01/12/2010 08:26,1\n",  # line 7
    )
    messages, rejected = split(read_all(path, SHOP_MAPPING))

    assert [(m.line, m.message["properties"]["order_id"]) for m in messages] == [(2, "1001"), (7, "1003")]
    assert messages[0].message["properties"]["products"][0]["name"] == "Lamp, tall\nwith shade"
    rejected.sort(key=lambda row: row.line)  # a group's rows are reported when the group closes
    assert [(r.line, r.field) for r in rejected] == [(4, None), (5, "Order")]
    assert "expected 7 columns, found 5" in rejected[0].reason
    assert "Order is empty" in rejected[1].reason


def test_undecodable_bytes_reject_only_their_row(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        HEADER.encode()
        + b"1001,A1,L\xe4mp,1,2.55,01/12/2010 08:26,1\n"  # latin-1 byte in a utf-8 file
        + "1002,A1,Lämp,1,2.55,01/12/2010 08:26,2\n".encode()
    )
    messages, rejected = split(read_all(path, SHOP_MAPPING))

    assert [m.message["properties"]["products"][0]["name"] for m in messages] == ["Lämp"]
    assert [(r.line, r.reason) for r in rejected] == [(2, "not valid utf-8")]


def test_an_interrupted_group_is_one_message_within_the_window_and_rejected_beyond_it(tmp_path):
    rows = (
        HEADER
        + "1001,A1,Lamp,1,2.00,01/12/2010 08:26,1\n"  # line 2
        + "C1000,A1,Lamp,-1,2.00,01/12/2010 08:26,1\n"  # line 3
        + "1001,B2,Vase,1,3.00,01/12/2010 08:26,1\n"  # line 4: 1001 again, one row later
    )
    path = write(tmp_path / "orders.csv", rows)

    windowed = SHOP_MAPPING.replace('into = "properties.products"', 'into = "properties.products"\nwindow = 1')
    messages, rejected = split(read_all(path, windowed))
    assert rejected == []
    assert sorted((m.line, m.rows, m.message["properties"]["revenue"]) for m in messages) == [
        (2, 2, 5.0),
        (3, 1, -2.0),
    ]

    messages, rejected = split(read_all(path, SHOP_MAPPING))  # window 0: groups are consecutive runs
    assert [(m.line, m.rows) for m in messages] == [(2, 1), (3, 1)]
    assert [(r.line, r.field) for r in rejected] == [(4, "Order")]
    assert "already emitted" in rejected[0].reason and "window" in rejected[0].reason


def test_message_ids_are_the_same_on_every_import(tmp_path):
    flat = write(
        tmp_path / "events.csv",
        "type,event,userId,anonymousId,timestamp,properties\n"
        + 'track,Product Viewed,u1,,2024-03-01T10:00:00Z,"{""sku"": ""A1""}"\n'
        + "identify,,u1,,2024-03-01T10:01:00,\n"
        + ",Signed Up,,a9,2024-03-01T10:02:00+02:00,\n",
    )
    first = read_all(flat)
    second = read_all(flat)
    ids = [m.message["messageId"] for m in first]

    assert ids == [m.message["messageId"] for m in second]
    assert len(set(ids)) == 3 and all(i.startswith("import-") for i in ids)
    viewed, identified, signed_up = (m.message for m in first)
    assert viewed["properties"] == {"sku": "A1"}
    assert viewed["timestamp"] == "2024-03-01T10:00:00+00:00"
    assert identified["type"] == "identify" and identified["timestamp"] == "2024-03-01T10:01:00+00:00"
    assert signed_up["type"] == "track" and signed_up["anonymousId"] == "a9"  # empty type: a track
    assert signed_up["timestamp"] == "2024-03-01T10:02:00+02:00"


def test_the_flat_mapping_rejects_rows_segment_would_refuse(tmp_path):
    flat = write(
        tmp_path / "events.csv",
        "type,event,userId,anonymousId,timestamp,properties\n"
        + "track,Viewed,,,2024-03-01T10:00:00Z,\n"  # no id
        + "track,,u1,,2024-03-01T10:00:00Z,\n"  # a track without event
        + "shout,Hi,u1,,2024-03-01T10:00:00Z,\n"  # no such type
        + "track,Viewed,u1,,2024-03-01T10:00:00Z,{not json}\n",
    )
    messages, rejected = split(read_all(flat))

    assert messages == []
    assert [(r.line, r.field) for r in rejected] == [(2, "userId"), (3, "event"), (4, "type"), (5, "properties")]


def test_json_lines_keep_good_messages_and_reject_bad_lines_by_number(tmp_path):
    lines = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1"},  # 1
        "not json",  # 2
        {"type": "track", "event": "Viewed"},  # 3: no id
        None,  # 4: blank line
        ["a", "list"],  # 5
        {"event": "Viewed", "userId": "u1"},  # 6: no type
        {"type": "identify", "userId": 42, "traits": {"plan": "pro"}},  # 7: numeric id, no messageId
    ]
    text = "\n".join(
        "" if line is None else line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines
    )
    path = write(tmp_path / "events.jsonl", text + "\n")
    messages, rejected = split(read_all(path))

    assert [m.line for m in messages] == [1, 7]
    assert messages[0].message["messageId"] == "m1"
    assert messages[1].message["userId"] == "42"
    assert messages[1].message["messageId"] == split(read_all(path))[0][1].message["messageId"]
    assert [(r.line, r.field) for r in rejected] == [(2, None), (3, "userId"), (5, None), (6, "type")]


def test_gzip_is_read_transparently_and_progress_reaches_the_file_size(tmp_path):
    plain = write(
        tmp_path / "orders.csv",
        HEADER + "".join(f"{1000 + i // 3},A{i},Lamp,1,2.5,01/12/2010 08:26,{i}\n" for i in range(9000)),
    )
    packed = tmp_path / "orders.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    seen: list[int] = []

    from_gzip = read_all(packed, SHOP_MAPPING, on_progress=seen.append)

    assert from_gzip == read_all(plain, SHOP_MAPPING)
    assert len(from_gzip) == 3000
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == packed.stat().st_size

    jsonl = tmp_path / "events.jsonl.gz"
    jsonl.write_bytes(gzip.compress(b'{"type":"page","anonymousId":"a1","messageId":"p1"}\n'))
    assert [m.message["messageId"] for m in split(read_all(jsonl))[0]] == ["p1"]


def test_mappings_are_checked_before_any_row_is_read(tmp_path):
    path = write(tmp_path / "orders.csv", "Order,Sku\n1,A\n")
    with pytest.raises(MappingError, match="Qty"):
        read_all(path, SHOP_MAPPING)
    with pytest.raises(MappingError, match="unknown key"):
        parse_mapping(SHOP_MAPPING.replace("[source]", "[source]\ntimezon = 'UTC'"))
    with pytest.raises(MappingError, match="unknown conversion"):
        parse_mapping(SHOP_MAPPING.replace("{Qty|int}", "{Qty|integer}"))
    with pytest.raises(MappingError, match="references no column"):
        parse_mapping(SHOP_MAPPING.replace('by = "{Order}"', 'by = "Order"'))
    with pytest.raises(MappingError, match="not among the"):
        parse_mapping(SHOP_MAPPING.replace("quantity * price", "qty * price"))
    with pytest.raises(MappingError, match="no ready mapping"):
        load_mapping("no-such-mapping")
    with pytest.raises(UnsupportedFile):
        read_events(write(tmp_path / "orders.xlsx", "x"))


def test_ready_mappings_load_by_name_and_by_path(tmp_path):
    assert {"online-retail", "segment-csv"} <= set(available_mappings())
    assert load_mapping("online-retail").group is not None
    user_file = write(tmp_path / "mine.toml", SHOP_MAPPING)
    assert load_mapping(str(user_file)).name == str(user_file)


@pytest.mark.slow
@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason=f"UCI Online Retail data not found at {ONLINE_RETAIL}")
def test_online_retail_imports_one_order_per_invoice_and_revenue_adds_up():
    started = time.perf_counter()
    events: Counter[str] = Counter()
    revenue = 0.0
    user_ids: set[str] = set()
    rows = 0
    rejected: list[RejectedRow] = []
    interrupted = None
    for item in read_events(ONLINE_RETAIL, load_mapping("online-retail")):
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        message = item.message
        events[message["event"]] += 1
        revenue += message["properties"]["revenue"]
        rows += item.rows
        if "userId" in message:
            user_ids.add(message["userId"])
        else:
            assert message["anonymousId"] == f"guest-{message['properties']['order_id']}"
        if message["messageId"] == "online-retail-542806":
            interrupted = item

    assert rejected == []
    assert rows == 541_909  # every data row is in some message
    assert sum(events.values()) == 25_900  # one message per invoice
    assert events["Order Refunded"] == 3_836  # distinct invoice numbers starting with "C"
    assert revenue == pytest.approx(9_747_747.93, abs=0.01)  # PROVENANCE: sum(Quantity * UnitPrice)
    assert len(user_ids) == 4_372
    assert interrupted is not None and interrupted.rows == 39  # split by two rows of C542805, kept whole
    assert time.perf_counter() - started < 20
