"""`afinidad import catalog`: files become products (rows of one product merged, each product checked as the
API checks it), on SQLite and PostgreSQL, with every refused row named by its line and field."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from afinidad.catalog.bulk import import_catalog
from afinidad.catalog.importer import (
    ImportedProduct,
    MappingError,
    RejectedRow,
    SkippedRow,
    available_mappings,
    load_mapping,
    parse_mapping,
    read_products,
)
from afinidad.catalog.importer.checking import names_product
from afinidad.catalog.service import get_product
from afinidad.importing.conversions import Converters
from afinidad.store.engine import Store
from afinidad.store.models import CatalogChange, Product
from afinidad.tracking.importer import parse_mapping as parse_event_mapping
from afinidad.workspaces.service import CreatedWorkspace
from tests.conftest import data_path

FLIPKART = ("flipkart-catalog-head48", "flipkart_com-ecommerce_sample_head48.csv")
ONLINE_RETAIL = ("uci-online-retail", "online_retail.csv.gz")

SHOP_MAPPING = """
description = "a test shop"

[product]
id = "{sku}"
title = "{name}"
price = "{price|decimal}"
sale_price = "{sale|decimal}"
currency = ["{currency}", "EUR"]
category = "{path|split(/)}"
stock.default = "{qty|int}"
attributes.colour = "{colour}"

[merge]
title = "first"
price = "most_common"

[[when]]
column = "sku"
matches = "FEE-.*"
skip = true

[[when]]
column = "qty"
equals = "0"
set.active = false
"""
SHOP_HEADER = "sku,name,price,sale,currency,path,qty,colour\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def split(items: list[Any]) -> tuple[dict[str, ImportedProduct], list[RejectedRow], list[SkippedRow]]:
    products = {item.id: item for item in items if isinstance(item, ImportedProduct)}
    return (
        products,
        [item for item in items if isinstance(item, RejectedRow)],
        [item for item in items if isinstance(item, SkippedRow)],
    )


def product(store: Store, workspace_id: str, product_id: str) -> dict[str, Any]:
    with store.reader() as session:
        return get_product(session, workspace_id, product_id)


def count_changes(store: Store, workspace_id: str) -> int:
    with store.reader() as session:
        return session.execute(
            select(func.count()).select_from(CatalogChange).where(CatalogChange.workspace_id == workspace_id)
        ).scalar_one()


# ---------------------------------------------------------------------------------------------------------
# Reading: templates, rules and merging, without a database


def test_rows_of_one_product_merge_by_policy_and_rules_skip_or_set(tmp_path: Path) -> None:
    path = write(
        tmp_path / "shop.csv",
        SHOP_HEADER
        + "A1,Lamp,10.00,,,Home / Lights,4,red\n"  # line 2
        + "B7,Vase,5,,,Home/Decor,3,\n"  # line 3
        + "A1,Lamp (new name),12.50,9.99,,,0,\n"  # line 4: later price, no path and no colour given
        + "FEE-1,Postage,abc,,,,,\n"  # line 5: skipped, so its bad price is never read
        + "A1,,10.0,,GBP,,,blue\n",  # line 6: no name; 10.0 is 10.00, the most common price
    )
    products, rejected, skipped = split(list(read_products(path, parse_mapping(SHOP_MAPPING, "shop"))))

    assert rejected == []
    assert [row.line for row in skipped] == [5]
    lamp = products["A1"]
    assert list(lamp.lines) == [2, 4, 6] and lamp.line == 2
    assert lamp.product.title == "Lamp"  # first
    assert lamp.product.price == Decimal("10")  # most common (2 of 3 rows), however it is written
    assert lamp.product.sale_price == Decimal("9.99")  # last row that gives it
    assert lamp.product.currency == "GBP"  # the fallback EUR until a row names one: the last wins
    assert lamp.product.category == ["Home", "Lights"]  # a row without a path does not erase it
    assert lamp.product.attributes == {"colour": "blue"}
    assert lamp.product.stock == {"default": 0}
    assert lamp.product.active is False  # the qty=0 row set active=false; a later row that leaves it out keeps it
    vase = products["B7"]
    assert (vase.product.category, vase.product.currency, vase.product.active) == (["Home", "Decor"], "EUR", True)


def test_most_common_ties_go_to_the_value_seen_last_and_a_rule_can_set_a_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "shop.csv",
        SHOP_HEADER + "A1,Lamp,3,,,,,\nA1,Lamp,4,,,,,\nA1,Lamp,4,,,,,\nA1,Lamp,3,,,,,\nB7,Vase,5,,,,0,\n",
    )
    products, _, _ = split(list(read_products(path, parse_mapping(SHOP_MAPPING))))
    assert products["A1"].product.price == Decimal("3")  # 2 votes each; 3 was seen last
    assert products["B7"].product.active is False  # [[when]] qty equals "0": set.active = false


def test_conversions_split_json_paths_ruby_hashes_and_key_values(tmp_path: Path) -> None:
    mapping = parse_mapping(
        """
        [source]
        empty_values = ["n/a"]
        [product]
        id = "{id|int}"
        title = "{name|upper}"
        price = "{price|decimal}"
        currency = "inr"
        category = "{tree|json|first|split(>>)}"
        attributes.specs = "{specs|ruby_hash|get(spec)|key_values}"
        attributes.rating = "{rating|float}"
        image_urls = "{images|json}"
        """
    )
    tree = json.dumps(["Home >> Kitchen >> Mugs"]).replace('"', '""')
    specs = '{""spec""=>[{""key""=>""Material"", ""value""=>""Clay""}, {""value""=>""no key""}, {""key""=>""Size""}]}'
    path = write(
        tmp_path / "products.csv",
        "id,name,price,tree,specs,rating,images\n"
        f'7.0,mug,2.55,"{tree}","{specs}",4.5,"[""https://img.example.com/1.jpg""]"\n'
        '8,cup,1,"[]","{""spec""=>{""key""=>""Colour"", ""value""=>""blue \\#1""}}",n/a,\n',
    )
    products, rejected, _ = split(list(read_products(path, mapping)))

    assert rejected == []
    mug = products["7"].product  # "7.0" read as an int, then as the id's text
    assert mug.title == "MUG" and mug.price == Decimal("2.55") and mug.currency == "INR"
    assert mug.category == ["Home", "Kitchen", "Mugs"]
    assert mug.attributes == {"specs": {"Material": "Clay", "Size": None}, "rating": 4.5}
    assert mug.image_urls == ["https://img.example.com/1.jpg"]
    cup = products["8"].product
    assert cup.category == []  # first of an empty list is missing
    assert cup.attributes == {"specs": {"Colour": "blue #1"}}  # one pair object; Ruby's \# is a plain #; n/a is empty


def test_a_category_ends_in_the_product_only_when_it_names_the_product() -> None:
    assert names_product("Alisha Solid Women's Cycling Shorts", "Alisha Solid Women's Cycling Shorts")
    assert names_product("dongli Printed Boy's T-Shirt (Pack of 4)", "dongli Printed Boy's T-Shirt")
    assert names_product("Eternal Gandhi Crystal Paper Weight...", "Eternal Gandhi Crystal Paper Weights  With Finish")
    assert names_product("FabHomeDecor Sofa Bed (Finish Colo...", "FabHomeDecor Sofa Bed")
    assert not names_product("Mugs", "Mug")  # a category that merely begins like the title
    assert not names_product("Mug holders", "Mug")
    assert not names_product("Mug", "Mug holder")
    assert not names_product("Comfort Toys", "Kennel Rubber Dumbell With Bell")


def test_ruby_hash_text_reads_symbols_and_nil_and_leaves_strings_alone() -> None:
    ruby_hash = Converters().get("ruby_hash")
    assert ruby_hash('{:size=>nil, "note"=>"a=>b, nil, :x", "n"=>[1, 2.5]}') == {
        "size": None,
        "note": "a=>b, nil, :x",
        "n": [1, 2.5],
    }
    with pytest.raises(ValueError, match="not a Ruby hash"):
        ruby_hash('{"a"=>}')


def test_bad_cells_reject_their_row_and_bad_products_all_their_rows_naming_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "shop.csv",
        SHOP_HEADER
        + "A1,Lamp,10,,,,2,\n"  # 2: good
        + "N1,Negative,-3,,,,,\n"  # 3: negative price
        + "X1,Pesos,4,,XYZ,,,\n"  # 4: unknown currency
        + "U1,Unreadable,abc,,,,,\n"  # 5: not a number: a conversion error names the column
        + "A1,Lamp,11,,,,many,\n"  # 6: a bad quantity rejects this row only; A1 stays from line 2
        + "S1,Sale,5,6,,,,\n"  # 7 and 8: sale price above price, refused on both rows
        + "S1,Sale,5,,,,,\n"
        + "B1,Bad,1,,,,,x,extra\n"  # 9: wrong column count
        + ",Nameless,1,,,,,\n"  # 10: no id
        + "G1,Good,7.5,,usd,,,\n",  # 11: good (currency case does not matter)
    )
    products, rejected, _ = split(list(read_products(path, parse_mapping(SHOP_MAPPING))))

    by_line = {row.line: row for row in rejected}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert by_line[3].field == "price" and "greater than or equal to 0" in by_line[3].reason
    assert by_line[4].field == "currency" and "'XYZ' is not an ISO 4217 currency code" in by_line[4].reason
    assert by_line[5].field == "price" and "'abc' is not a number" in by_line[5].reason  # the column
    assert by_line[6].field == "qty" and "'many' is not an integer" in by_line[6].reason
    assert by_line[7].field is None and "sale_price must not exceed price" in by_line[7].reason
    assert by_line[8].reason == "rejected with product 'S1': see line 7"
    assert "expected 8 columns, found 9" in by_line[9].reason
    assert by_line[10].field == "sku" and "cannot tell which product" in by_line[10].reason
    assert sorted(products) == ["A1", "G1"]  # nothing else lost
    assert list(products["A1"].lines) == [2] and products["A1"].product.stock == {"default": 2}
    assert products["G1"].product.currency == "USD"


def test_mappings_are_checked_before_any_row_is_read(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="unknown field 'colour'"):
        parse_mapping(SHOP_MAPPING.replace("attributes.colour", "colour"))
    with pytest.raises(MappingError, match="title is not an object"):
        parse_mapping(SHOP_MAPPING.replace('title = "{name}"', 'title.en = "{name}"'))
    with pytest.raises(MappingError, match="needs price"):
        parse_mapping(SHOP_MAPPING.replace('price = "{price|decimal}"', ""))
    with pytest.raises(MappingError, match="id is required"):
        parse_mapping(SHOP_MAPPING.replace('id = "{sku}"', ""))
    with pytest.raises(MappingError, match="either skip"):
        parse_mapping(SHOP_MAPPING.replace("skip = true", "skip = true\nset.active = false"))
    with pytest.raises(MappingError, match="not a regular expression"):
        parse_mapping(SHOP_MAPPING.replace('"FEE-.*"', '"FEE-(("'))
    with pytest.raises(MappingError, match="choose one of last, first, most_common"):
        parse_mapping(SHOP_MAPPING.replace('title = "first"', 'title = "newest"'))
    with pytest.raises(MappingError, match="split needs an argument"):
        parse_mapping(SHOP_MAPPING.replace("split(/)", "split"))
    with pytest.raises(MappingError, match="upper takes no argument"):
        parse_mapping(SHOP_MAPPING.replace('"{name}"', '"{name|upper(x)}"'))
    with pytest.raises(MappingError, match="qty"):  # the header lacks a column the mapping reads
        list(
            read_products(
                write(tmp_path / "short.csv", "sku,name,price,sale,currency,path\n"), parse_mapping(SHOP_MAPPING)
            )
        )
    with pytest.raises(MappingError, match="needs a mapping"):
        read_products(write(tmp_path / "shop.csv", SHOP_HEADER))
    with pytest.raises(MappingError, match="skip"):  # skip is for products: an event has no such action
        parse_event_mapping(
            '[message]\ntype = "track"\nuserId = "{u}"\n[[when]]\ncolumn = "u"\nempty = true\nskip = true'
        )
    with pytest.raises(MappingError, match="decimal is for catalog mappings"):
        parse_event_mapping('[message]\ntype = "track"\nuserId = "{u}"\nproperties.price = "{p|decimal}"')
    assert {"flipkart", "online-retail-products"} <= set(available_mappings())


def test_json_lines_are_products_by_id_without_a_mapping(
    store: Store, workspace: CreatedWorkspace, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "products.jsonl",
        '{"id": "mug-red", "parent_id": "mug", "title": "Red mug", "price": "9.5", "currency": "EUR"}\n'
        '{"id": "mug", "title": "Mug", "price": "9.5", "currency": "EUR", "stock": {"madrid": 3}}\n'
        "\n"
        '{"title": "No id", "price": 1, "currency": "EUR"}\n'  # line 4
        "not json\n"  # line 5
        '{"id": "cup", "title": "Cup", "price": 2, "currency": "EUR", "colour": "red"}\n'  # line 6: unknown key
        '{"id": 42, "title": "Plate", "price": 3, "currency": "EUR"}\n'
        '{"id": "mug", "description": "Stoneware", "price": "8.75"}\n'  # line 8: updates mug, keeps its title
        '{"id": "orphan", "parent_id": "nowhere", "title": "Lost", "price": 1, "currency": "EUR"}\n',  # line 9
    )
    report = import_catalog(store, workspace.id, path)

    assert [(row.line, row.field) for row in report.rejected] == [(4, "id"), (5, None), (6, "colour"), (9, "parent_id")]
    assert "unknown parent product" in report.rejected[-1].reason
    assert (report.rows_read, report.products, report.stored) == (8, 4, 3)  # the orphan's chunk stored the rest
    mug = product(store, workspace.id, "mug")
    assert (mug["title"], mug["description"], mug["price"], mug["stock"]) == ("Mug", "Stoneware", "8.75", {"madrid": 3})
    assert mug["variants"] == ["mug-red"]  # the variant came first in the file; its parent was stored first
    assert product(store, workspace.id, "42")["title"] == "Plate"
    with pytest.raises(MappingError, match="JSON lines are products already"):
        read_products(path, load_mapping("flipkart"))


# ---------------------------------------------------------------------------------------------------------
# Storing, on both databases


def test_flipkart_sample_imports_46_products_and_refuses_the_2_without_price(
    store: Store, workspace: CreatedWorkspace
) -> None:
    path = data_path(*FLIPKART)
    report = import_catalog(store, workspace.id, path, mapping=load_mapping("flipkart"))

    with path.open(encoding="utf-8", newline="") as handle:
        raw = {row["pid"]: row for row in csv.DictReader(handle)}
    assert len(raw) == 48
    assert (report.rows_read, report.products, report.stored, report.skipped) == (48, 46, 46, 0)
    # lines 14 and 23 have neither retail_price nor discounted_price (PROVENANCE: "2 missing")
    assert [(r.line, r.field, r.reason) for r in report.rejected] == [
        (14, "price", "required, and retail_price is empty"),
        (23, "price", "required, and retail_price is empty"),
    ]
    shorts = product(store, workspace.id, "SRTEH2FF9KEDEFGF")
    assert shorts["title"] == "Alisha Solid Women's Cycling Shorts"
    assert (shorts["price"], shorts["sale_price"], shorts["currency"]) == ("999", "379", "INR")
    # the tree ends in the product's own name, which is dropped: a category is what products share
    assert shorts["category"] == [
        "Clothing",
        "Women's Clothing",
        "Lingerie, Sleep & Swimwear",
        "Shorts",
        "Alisha Shorts",
    ]
    assert shorts["brand"] == "Alisha"
    assert shorts["attributes"]["specifications"]["Fabric"] == "Cotton Lycra"
    assert shorts["attributes"]["url"] == raw["SRTEH2FF9KEDEFGF"]["product_url"]
    assert "rating" not in shorts["attributes"]  # "No rating available"
    assert len(shorts["image_urls"]) == len(json.loads(raw["SRTEH2FF9KEDEFGF"]["image"])) == 4

    sofa = product(store, workspace.id, "SBEEH3QGU7MFYJFY")  # its tree ends in its name cut short with "..."
    assert sofa["category"] == ["Furniture", "Living Room Furniture", "Sofa Beds & Futons"]
    shampoo = product(store, workspace.id, "PSOEH3ZXRTZJUVXM")  # "Grooming > Skin & Coat Care": one ">"
    assert shampoo["category"] == ["Pet Supplies", "Grooming", "Skin & Coat Care", "Shampoo"]
    bellies = product(store, workspace.id, "SHOEH4KM2W3Z6EH5")
    assert bellies["attributes"]["rating"] == 5.0
    vanity = product(store, workspace.id, "VANDZY4YZFPEG85T")  # no brand; one specification, not a list
    assert vanity["brand"] is None
    assert vanity["attributes"]["specifications"] == {"Body Material": "croco leather material"}


def test_importing_again_changes_nothing_and_a_changed_price_is_one_history_row(
    store: Store, workspace: CreatedWorkspace, tmp_path: Path
) -> None:
    mapping = parse_mapping(SHOP_MAPPING)
    rows = "A1,Lamp,10,,,Home/Lights,4,red\nB7,Vase,5,,,Home,3,\n"
    path = write(tmp_path / "shop.csv", SHOP_HEADER + rows)
    import_catalog(store, workspace.id, path, mapping=mapping)
    before = [product(store, workspace.id, pid) for pid in ("A1", "B7")]
    changes = count_changes(store, workspace.id)
    assert changes == 4  # a price and a stock level for each new product

    again = import_catalog(store, workspace.id, path, mapping=mapping)
    assert (again.stored, again.rejected) == (2, [])
    after = [product(store, workspace.id, pid) for pid in ("A1", "B7")]
    assert [{**p, "updated_at": None} for p in after] == [{**p, "updated_at": None} for p in before]
    assert count_changes(store, workspace.id) == changes

    write(path, SHOP_HEADER + rows.replace("A1,Lamp,10,", "A1,Lamp,11.5,"))
    import_catalog(store, workspace.id, path, mapping=mapping)
    assert count_changes(store, workspace.id) == changes + 1
    assert product(store, workspace.id, "A1")["price"] == "11.5"


def _online_retail_catalog(path: Path) -> dict[str, tuple[str, Decimal]]:
    """The catalog the online-retail-products mapping promises, computed here from the raw file: one product
    per upper-cased StockCode, skipping cancellations, prices <= 0 and non-product codes; the most common
    Description (cells are stripped) and UnitPrice, ties going to the value seen last."""
    non_products = {"POST", "DOT", "C2", "M", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "B", "PADS"}
    titles: dict[str, Counter[str]] = {}
    prices: dict[str, Counter[Decimal]] = {}
    last_seen: dict[tuple[str, object], int] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            price = Decimal(row["UnitPrice"])
            code = row["StockCode"].upper()
            if row["InvoiceNo"].startswith("C") or price <= 0 or code in non_products or code.startswith("GIFT_"):
                continue
            title = row["Description"].strip()
            titles.setdefault(code, Counter())[title] += 1
            prices.setdefault(code, Counter())[price] += 1
            last_seen[(code, title)] = last_seen[(code, price)] = index

    def most_common(code: str, counts: Counter[Any]) -> Any:
        return max(counts, key=lambda value: (counts[value], last_seen[(code, value)]))

    return {code: (most_common(code, titles[code]), most_common(code, prices[code])) for code in titles}


@pytest.mark.slow
def test_online_retail_becomes_one_product_per_stock_code_at_its_most_common_price(
    store: Store, workspace: CreatedWorkspace
) -> None:
    path = data_path(*ONLINE_RETAIL)
    report = import_catalog(store, workspace.id, path, mapping=load_mapping("online-retail-products"))

    expected = _online_retail_catalog(path)
    assert report.rejected == []
    assert report.rows_read == 541_909  # PROVENANCE: every row of the file is accounted for
    assert report.products == report.stored == len(expected)
    with store.reader() as session:
        stored = {
            row.id: (row.title, row.price, row.currency)
            for row in session.execute(select(Product).where(Product.workspace_id == workspace.id)).scalars()
        }
    assert {code: (title, price) for code, (title, price, _) in stored.items()} == expected
    assert {currency for _, _, currency in stored.values()} == {"GBP"}
    assert product(store, workspace.id, "85123A")["title"] == expected["85123A"][0]
    assert Decimal(product(store, workspace.id, "85123A")["price"]) == expected["85123A"][1]
    assert "15056BL" in stored and "15056bl" not in stored  # the lower-case code is the same product


# ---------------------------------------------------------------------------------------------------------
# The command, as a user runs it


def afinidad(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFINIDAD_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "afinidad", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_the_command_imports_reports_refused_rows_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert afinidad(db, "workspaces", "create", "shop").returncode == 0
    source = str(data_path(*FLIPKART))
    rejects = tmp_path / "bad.csv"

    first = afinidad(db, "import", "catalog", source, "-w", "shop", "-m", "flipkart", "--rejects", str(rejects))
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Read 48 rows into 46 products: 46 stored, 0 rows skipped by the mapping, 2 rows refused." in first.stdout
    assert "Refused rows" in first.stderr and "retail_price is empty" in first.stderr
    assert rejects.read_text().splitlines() == [
        "line,field,reason",
        '14,price,"required, and retail_price is empty"',
        '23,price,"required, and retail_price is empty"',
    ]
    with Store.from_url(f"sqlite:///{db}").reader() as session:
        assert session.execute(select(func.count()).select_from(Product)).scalar_one() == 46

    good = write(tmp_path / "more.jsonl", '{"id": "mug", "title": "Mug", "price": "9.90", "currency": "EUR"}\n')
    second = afinidad(db, "import", "catalog", str(good), "-w", "shop")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Read 1 rows into 1 products: 1 stored" in second.stdout

    listed = afinidad(db, "import", "mappings")
    assert listed.returncode == 0
    for kind, name in (("events", "online-retail"), ("catalog", "flipkart"), ("catalog", "online-retail-products")):
        assert any(line.split()[1:4:2] == [kind, name] for line in listed.stdout.splitlines() if "│" in line), name
