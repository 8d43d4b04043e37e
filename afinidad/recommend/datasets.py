"""The public data sets `afinidad recommend evaluate --dataset` knows, read from the data folder
(`AFINIDAD_DATA_DIR`, default ``../shared/data``): never shipped with the product, only read in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from afinidad.errors import FieldProblem, InvalidInput
from afinidad.recommend.interactions import Interactions, movielens_100k, movielens_100k_folds, online_retail

DATASETS: dict[str, tuple[str, Callable[[Path], Interactions]]] = {
    "movielens-100k": ("movielens-100k", movielens_100k),
    "online-retail": ("uci-online-retail/online_retail.csv.gz", online_retail),
}

# The data sets that ship their own (train, test) folds, for `--protocol u1-u5`.
FOLDS: dict[str, tuple[str, Callable[[Path], list[tuple[Interactions, Interactions]]]]] = {
    "movielens-100k": ("movielens-100k", movielens_100k_folds),
}


def _located(name: str, relative: str, data_dir: Path) -> Path:
    path = data_dir / relative
    if not path.exists():
        raise InvalidInput(
            f"The {name} data set is not at {path}.",
            [FieldProblem("dataset", "set AFINIDAD_DATA_DIR to the folder holding the public data sets")],
        )
    return path


def load_dataset(name: str, data_dir: Path) -> Interactions:
    if name not in DATASETS:
        raise InvalidInput(f"No data set {name!r}.", [FieldProblem("dataset", f"one of {', '.join(DATASETS)}")])
    relative, reader = DATASETS[name]
    return reader(_located(name, relative, data_dir))


def load_folds(name: str, data_dir: Path) -> list[tuple[Interactions, Interactions]]:
    """The (train, test) folds `name` ships, all coded alike."""
    if name not in FOLDS:
        raise InvalidInput(f"The data set {name!r} ships no folds.",
                           [FieldProblem("dataset", f"one of {', '.join(FOLDS)}")])  # fmt: skip
    relative, reader = FOLDS[name]
    return reader(_located(name, relative, data_dir))
