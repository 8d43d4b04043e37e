"""Content-based similar items benchmark: what `ContentIndex.fit` costs (TF-IDF of each product's text, then
each product's 50 most similar others by cosine) on real and synthetic catalogs, beside scikit-learn's brute
force nearest neighbours on the same vectors.

    .venv/bin/python benchmarks/similar.py [--quick] [--sizes 20000,100000] [--no-baseline-above N]

In one run:

1) Catalogs. The UCI Online Retail products (one per stock code, titled by its most common description, as
   the catalog import makes them: 3,798 short English titles). Synthetic catalogs of `--sizes` products,
   made by recombining the words of those real titles: each synthetic title is the first words of one real
   title followed by the last words of another ("LUNCH BAG" + "VINTAGE DOILY"), seeded, so the vocabulary,
   word frequencies and title lengths are those of a real shop while the products are new. Titles only, like
   the real set: no description, brand or category.
2) Each fit runs in a fresh process of its own, with the catalog already built, so its peak memory (the
   kernel's VmHWM, reset just before the fit) is its own:
   - afinidad: `ContentIndex(n_neighbours=50).fit(products)`, text analysis included. Afterwards, outside the
     measured fit: the text analysis alone, the chunked neighbour search alone, the stored size
     (`to_bytes`), loading it back, and `query()` for 200 new synthetic products against the loaded index.
   - baseline: `sklearn.neighbors.NearestNeighbors(n_neighbors=51, metric="cosine", algorithm="brute")`,
     fit and `kneighbors` on the very same TF-IDF vectors (their making not counted). It computes the
     similarities in dense blocks of scikit-learn's working memory (1 GiB by default) and sorts each row.
3) Both answers are compared link by link: the share of afinidad's links the baseline also finds (ties at the
   50th place may go either way), and the largest difference between the two sorted score lists of a row.

`--quick` runs the Online Retail products and a 20,000-product synthetic catalog. The baseline is skipped
above `--no-baseline-above` products (default: never; at 100,000 it takes about three minutes).
Figures go to the terminal and to `benchmarks/results/similar.json` (`similar-quick.json` with --quick).
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from afinidad.recommend.content import ContentIndex, ProductText, top_neighbours
from afinidad.recommend.interactions import NOT_PRODUCTS
from afinidad.settings import Settings
from benchmarks.catalog import reset_peak_memory
from benchmarks.common import MIB, RESULTS, ROOT, announce_run, percentile, write_figures

K = 50
SEED = 20_250_601
QUERIES = 200
RETAIL = (ROOT / Settings().data_dir / "uci-online-retail" / "online_retail.csv.gz").resolve()
METHODS = ("afinidad", "baseline")

# -- catalogs -----------------------------------------------------------------------------------------------


def retail_products(path: Path = RETAIL) -> list[ProductText]:
    """One product per upper-cased stock code, titled by its most common description; postage, fees,
    cancellations and zero-price stock adjustments left out (as `catalog/mappings/online-retail-products`)."""
    titles: dict[str, Counter[str]] = defaultdict(Counter)
    with gzip.open(path, "rt", newline="") as handle:
        rows = csv.reader(handle)
        next(rows)
        for invoice, code, description, _, _, price, _, _ in rows:
            code = code.strip().upper()
            if code in NOT_PRODUCTS or code.startswith("GIFT_") or invoice.startswith("C") or float(price) <= 0:
                continue
            titles[code][description.strip()] += 1
    return [ProductText(code, counts.most_common(1)[0][0]) for code, counts in titles.items()]


def synthetic_products(real: Sequence[ProductText], size: int, seed: int, prefix: str = "S") -> list[ProductText]:
    """`size` titles, each the first words of one real title and the last words of another."""
    rng = random.Random(seed)
    titles = [product.title.split() for product in real if product.title.split()]
    products = []
    for number in range(size):
        head, tail = rng.choice(titles), rng.choice(titles)
        head_words = head[: rng.randint(1, max(1, len(head) - 1))]
        tail_words = tail[rng.randint(0, max(0, len(tail) - 1)) :]
        products.append(ProductText(f"{prefix}{number}", " ".join(head_words + tail_words)))
    return products


def catalog(name: str, size: int) -> list[ProductText]:
    real = retail_products()
    return real if name == "retail" else synthetic_products(real, size, SEED)


# -- one fit, in a process of its own -----------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    found = re.search(rf"^{field_name}:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


def worker(name: str, size: int, method: str, answer_path: str) -> int:
    """Build the catalog, then fit with `method`; print the figures as JSON and keep the answer in
    `answer_path` for the comparison."""
    products = catalog(name, size)
    if method == "baseline":
        from sklearn.neighbors import NearestNeighbors

        vectors = ContentIndex(n_neighbours=1).fit(products).vectors_  # the same vectors, not timed
    gc.collect()
    before_kib = _status_kib("VmRSS")
    reset_peak_memory()
    started = time.perf_counter()
    if method == "afinidad":
        index = ContentIndex(n_neighbours=K).fit(products)
    else:
        search = NearestNeighbors(n_neighbors=K + 1, metric="cosine", algorithm="brute").fit(vectors)
        distances, neighbours = search.kneighbors(vectors)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {"fit_seconds": round(seconds, 3), "rss_before_mib": round(before_kib / 1024, 1),
                               "peak_mib": round(_status_kib("VmHWM") / 1024, 1)}  # fmt: skip
    if method == "afinidad":
        figures |= afinidad_details(index, products)
        links = index.neighbours()
        np.savez(answer_path, data=links.data, indices=links.indices, indptr=links.indptr)
    else:
        np.savez(answer_path, similarity=(1.0 - distances).astype(np.float32), neighbours=neighbours)
    print(json.dumps(figures))
    return 0


def afinidad_details(index: ContentIndex, products: Sequence[ProductText]) -> dict[str, Any]:
    """Where the fit's time goes, and what storing and querying the index cost (after the measured fit)."""
    started = time.perf_counter()
    terms = [index.terms(product) for product in products]
    analysis_seconds = time.perf_counter() - started
    started = time.perf_counter()
    top_neighbours(index.vectors_, K, index.min_similarity)
    search_seconds = time.perf_counter() - started
    started = time.perf_counter()
    blob = index.to_bytes()
    store_seconds = time.perf_counter() - started
    started = time.perf_counter()
    loaded = ContentIndex.from_bytes(blob)
    load_seconds = time.perf_counter() - started
    new = synthetic_products(products, QUERIES, SEED + 1, prefix="NEW-")
    latencies = []
    for product in new:
        started = time.perf_counter()
        loaded.query(product, k=10)
        latencies.append((time.perf_counter() - started) * 1000)
    links = np.diff(index.neighbours_.indptr)
    return {
        "terms": index.vectors_.shape[1],
        "terms_per_product": round(sum(map(len, terms)) / max(1, len(terms)), 1),
        "analysis_seconds": round(analysis_seconds, 3),
        "search_seconds": round(search_seconds, 3),
        "links": int(index.neighbours_.nnz),
        "products_without_links": int((links == 0).sum()),
        "stored_mib": round(len(blob) / MIB, 1),
        "to_bytes_seconds": round(store_seconds, 3),
        "from_bytes_seconds": round(load_seconds, 3),
        "query_ms_p50": round(statistics.median(latencies), 2),
        "query_ms_p99": round(percentile(latencies, 0.99), 2),
    }


def run_fit(name: str, size: int, method: str, folder: Path) -> dict[str, Any]:
    answer = folder / f"{name}-{size}-{method}.npz"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(size), method, str(answer)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=3_600)
    if completed.returncode != 0:
        return {"method": method, "error": (completed.stderr or completed.stdout).strip().splitlines()[-5:]}
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return {"method": method, "answer": str(answer), **figures,
            "added_mib": round(figures["peak_mib"] - figures["rss_before_mib"], 1)}  # fmt: skip


def agreement(afinidad_path: str, baseline_path: str, floor: float) -> dict[str, Any]:
    """How many of afinidad's links the baseline also has, and the largest gap between their score lists."""
    with np.load(afinidad_path) as ours, np.load(baseline_path) as theirs:
        links = sp.csr_matrix((ours["data"], ours["indices"], ours["indptr"]))
        similarity, neighbours = theirs["similarity"], theirs["neighbours"]
    shared = total = 0
    largest_gap = 0.0
    for row in range(similarity.shape[0]):
        kept = (neighbours[row] != row) & (similarity[row] > floor)
        expected_columns, expected_scores = neighbours[row][kept][:K], np.minimum(similarity[row][kept][:K], 1.0)
        start, end = links.indptr[row], links.indptr[row + 1]
        shared += len(set(links.indices[start:end]) & set(expected_columns))
        total += end - start
        if end - start == len(expected_scores):
            gap = np.abs(np.sort(links.data[start:end]) - np.sort(expected_scores)).max(initial=0.0)
            largest_gap = max(largest_gap, float(gap))
        else:
            largest_gap = float("inf")
    return {"links_shared": round(shared / max(1, total), 5), "largest_score_gap": largest_gap}


# -- the run ------------------------------------------------------------------------------------------------


def results_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Fit: each product's {K} most similar others (a fresh process per fit)", title_justify="left")
    for column in ("catalog", "products", "method", "fit", "peak memory (VmHWM)", "added by the fit",
                   "same links as the baseline", "largest score gap"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("catalog", "method") else "right")
    for run in runs:
        for fit in run["fits"]:
            if "error" in fit:
                table.add_row(run["label"], f"{run['products']:,}", fit["method"], "[red]failed[/]", "", "", "", "")
                continue
            compared = run.get("agreement", {}) if fit["method"] == "afinidad" else {}
            table.add_row(
                run["label"], f"{run['products']:,}", fit["method"], f"{fit['fit_seconds']:.2f} s",
                f"{fit['peak_mib']:,.0f} MiB", f"{fit['added_mib']:,.0f} MiB",
                f"{compared['links_shared']:.2%}" if compared else "",
                f"{compared['largest_score_gap']:.1e}" if compared else "",
            )  # fmt: skip
    table.caption = ("baseline: scikit-learn NearestNeighbors, brute force, cosine, on the same TF-IDF vectors "
                     "(their making not counted). added: VmHWM minus the RSS before the fit.")  # fmt: skip
    return table


def details_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="afinidad: where the fit goes, storing and querying the index", title_justify="left")
    for column in ("catalog", "terms", "terms/product", "text analysis", "neighbour search", "links",
                   "no links", "stored", "to / from bytes", "query p50 / p99"):  # fmt: skip
        table.add_column(column, justify="left" if column == "catalog" else "right")
    for run in runs:
        fit = next((fit for fit in run["fits"] if fit["method"] == "afinidad" and "error" not in fit), None)
        if fit is None:
            continue
        table.add_row(
            run["label"], f"{fit['terms']:,}", f"{fit['terms_per_product']}", f"{fit['analysis_seconds']:.2f} s",
            f"{fit['search_seconds']:.2f} s", f"{fit['links']:,}", f"{fit['products_without_links']:,}",
            f"{fit['stored_mib']:.1f} MiB", f"{fit['to_bytes_seconds']:.2f} / {fit['from_bytes_seconds']:.2f} s",
            f"{fit['query_ms_p50']:.1f} / {fit['query_ms_p99']:.1f} ms",
        )  # fmt: skip
    table.caption = (f"query: `query(product, k=10)` for {QUERIES} new synthetic products on the loaded index. "
                     "Text analysis and search are timed again after the fit, alone.")  # fmt: skip
    return table


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="Online Retail and 20,000 synthetic products")
    parser.add_argument("--sizes", default="20000,100000", help="synthetic catalog sizes, comma-separated")
    parser.add_argument("--no-baseline-above", type=int, default=None, help="skip the baseline above this size")
    parser.add_argument("--output", type=Path, default=None, help="where the JSON goes")
    parser.add_argument("--worker", nargs=4, metavar=("CATALOG", "SIZE", "METHOD", "ANSWER"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.worker:
        name, size, method, answer = arguments.worker
        return worker(name, int(size), method, answer)
    console = Console()
    if not console.is_terminal:  # piped to a file or CI log: wide enough that the tables do not wrap
        console = Console(width=160)
    if not RETAIL.is_file():
        console.print(f"[yellow]Skipping: {RETAIL} is absent (the UCI Online Retail data set).[/]")
        return 0
    sizes = [20_000] if arguments.quick else [int(size) for size in arguments.sizes.split(",") if size]
    run_id = uuid.uuid4().hex[:8]
    console.print(
        f"[bold]Afinidad content-similarity benchmark[/] run {run_id}: k={K}; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Synthetic catalogs recombine the words of the real Online Retail "
        "titles (the first words of one title, the last words of another)."
    )
    code, load_before = announce_run(console)
    plans = [("retail", 0, "Online Retail (real)")] + [("synthetic", size, "synthetic") for size in sizes]
    runs = []
    with tempfile.TemporaryDirectory(prefix="afinidad-content-") as folder:
        for name, size, label in plans:
            products = len(retail_products()) if name == "retail" else size
            methods = [method for method in METHODS
                       if method == "afinidad" or arguments.no_baseline_above is None
                       or products <= arguments.no_baseline_above]  # fmt: skip
            run: dict[str, Any] = {"catalog": name, "label": label, "products": products, "fits": []}
            for method in methods:
                console.print(f"{label}, {products:,} products: fitting {method}...")
                run["fits"].append(run_fit(name, size, method, Path(folder)))
            answers = {fit["method"]: fit.get("answer") for fit in run["fits"] if "error" not in fit}
            if answers.get("afinidad") and answers.get("baseline"):
                run["agreement"] = agreement(answers["afinidad"], answers["baseline"], ContentIndex().min_similarity)
            for fit in run["fits"]:
                fit.pop("answer", None)
                if "error" in fit:
                    console.print(f"[red]{label}, {fit['method']}: failed: {' | '.join(fit['error'])}[/]")
            runs.append(run)
    console.print(results_table(runs))
    console.print(details_table(runs))
    output = arguments.output or RESULTS / ("similar-quick.json" if arguments.quick else "similar.json")
    write_figures(console, output, benchmark="similar", run_id=run_id, load_before=load_before, code=code,
                  k=K, runs=runs)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
