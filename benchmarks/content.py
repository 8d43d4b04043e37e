"""Content studio benchmark: how fast the offline generator writes and the checker reads, per content type and
language, beside a baseline measured in the same run (the same facts put into one fixed sentence with plain
string formatting, which is what a template without variation or checks costs).

    .venv/bin/python benchmarks/content.py [--seconds 2] [--variants 5]

For each content type and language it writes briefs about the 48 Flipkart products (../shared/data) for
`--seconds`, then checks every piece written. Printed per type: pieces written per second, pieces checked per
second, written-and-checked per second, the baseline's pieces per second, and the share of pieces the checker
passed. The issue's aim is over 1,000 checked pieces per second offline. Figures also go to
`benchmarks/results/content.json`."""

from __future__ import annotations

import argparse
import csv
import itertools
import re
import sys
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.content.brand import BrandKit
from afinidad.content.channels import CONTENT_TYPES
from afinidad.content.checker import check
from afinidad.content.offline import Brief, generate, money
from afinidad.content.pieces import ProductFact
from benchmarks.common import RESULTS, ROOT, announce_run, verdict, write_figures

DATA = ROOT.parent / "shared" / "data" / "flipkart-catalog-head48" / "flipkart_com-ecommerce_sample_head48.csv"
AIM_PER_SECOND = 1000
KIT = BrandKit(name="Acme", languages=["en", "es"], disclaimers={"email:en": ["Terms apply."],
                                                                  "email:es": ["Se aplican condiciones."]})  # fmt: skip


def products(path: Path) -> list[ProductFact]:
    facts = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            price = row["discounted_price"] or row["retail_price"]
            pairs = dict(re.findall(r'"key"=>"(.*?)", "value"=>"(.*?)"', row["product_specifications"]))
            category = " > ".join(row["product_category_tree"].strip('["]').split(" >> ")[:3])
            facts.append(ProductFact(row["pid"], row["product_name"], Decimal(price) if price else None, "INR",
                                     brand=row["brand"] or None, category=category, attributes=pairs))  # fmt: skip
    return facts


def brief(content_type: str, language: str) -> Brief:
    return Brief(content_type, language, goal="offer", offer_percent=15, offer_code="SALE15", network="instagram",
                 url="https://acme.example/s", review={"rating": 4})  # fmt: skip


def baseline(facts: Sequence[ProductFact], seconds: float) -> float:
    """The same facts in one fixed sentence, plain formatting: pieces per second."""
    count, started = 0, time.perf_counter()
    for product in itertools.cycle(facts):
        price = money(product.selling_price, product.currency, "en") if product.selling_price else ""
        _ = f"{product.title} from {product.brand or 'us'}: now {price}, 15% off with code SALE15."
        count += 1
        if count % 200 == 0 and time.perf_counter() - started >= seconds:
            break
    return count / (time.perf_counter() - started)


def measure(content_type: str, language: str, facts: Sequence[ProductFact], seconds: float, variants: int
            ) -> dict[str, float]:  # fmt: skip
    pieces, started = [], time.perf_counter()
    for seed, product in enumerate(itertools.cycle(facts)):
        pieces += [draft.piece for draft in generate(brief(content_type, language), [product], KIT, variants, seed)]
        if time.perf_counter() - started >= seconds:
            break
    writing = time.perf_counter() - started
    started = time.perf_counter()
    passed = sum(not any(f.blocking for f in check(piece, KIT)) for piece in pieces)
    checking = time.perf_counter() - started
    return {"pieces": len(pieces), "written_per_second": round(len(pieces) / writing, 1),
            "checked_per_second": round(len(pieces) / checking, 1),
            "written_and_checked_per_second": round(len(pieces) / (writing + checking), 1),
            "passed_share": round(passed / len(pieces), 4)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="writing time per type and language")
    parser.add_argument("--variants", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None)
    arguments = parser.parse_args(argv)
    console = Console()
    code, load_before = announce_run(console)
    run_id = uuid.uuid4().hex[:8]
    facts = products(DATA)
    check(generate(brief("email", "en"), facts[:1], KIT, 1)[0].piece, KIT)  # load the language models first
    base = baseline(facts, arguments.seconds)
    table = Table(title=f"Offline content, {len(facts)} Flipkart products, {arguments.variants} variants a brief "
                  f"(run {run_id})")  # fmt: skip
    for column in ("type", "lang", "pieces", "written/s", "checked/s", "written+checked/s", "passed", "vs baseline",
                   f"aim > {AIM_PER_SECOND}/s"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("type", "lang") else "right")
    results = {}
    for content_type, language in itertools.product(CONTENT_TYPES, ("en", "es")):
        figures = measure(content_type, language, facts, arguments.seconds, arguments.variants)
        results[f"{content_type}/{language}"] = figures
        both = figures["written_and_checked_per_second"]
        table.add_row(content_type, language, f"{figures['pieces']:,}", f"{figures['written_per_second']:,.0f}",
                      f"{figures['checked_per_second']:,.0f}", f"{both:,.0f}", f"{figures['passed_share']:.0%}",
                      f"{base / both:,.0f}x slower", verdict(both > AIM_PER_SECOND))  # fmt: skip
    console.print(table)
    console.print(f"Baseline (one fixed sentence, plain formatting): {base:,.0f} pieces/s.")
    output = arguments.output or RESULTS / "content.json"
    write_figures(console, output, benchmark="content", run_id=run_id, load_before=load_before, code=code,
                  baseline_per_second=round(base, 1), results=results)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
