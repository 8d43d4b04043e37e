"""The Open Bandit Dataset (Saito et al. 2021, ZOZOTOWN fashion recommendations): its logs as arrays, and the
action distribution of the Bernoulli Thompson Sampling policy that ran in production, so off-policy estimates
of that policy from the uniform-random logs can be checked against its on-policy click rate in the `bts` logs.

Parsing is pure (rows in, arrays out); only `read_open_bandit_log` touches files. The CSVs are read with the
standard library, since pandas is not a dependency of the platform."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BEHAVIOR_POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
LEN_LIST = 3  # ZOZOTOWN shows three items side by side: positions left, centre, right

# The Beta(alpha, beta) prior per item that ZOZOTOWN's Thompson Sampling started the data collection with,
# as published in obp 0.5.7 (`obp/policy/conf/prior_bts.yaml`, Apache-2.0). Index = item_id.
ZOZOTOWN_BTS_PRIOR: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "all": (
        (47, 8, 62, 142, 3, 14, 7, 857, 12, 15, 6, 100, 48, 23, 71, 61, 13, 16, 518, 30, 7, 4, 23, 8, 10, 11, 11,
         18, 121, 11, 11, 10, 14, 9, 204, 58, 3, 19, 42, 1013, 2, 328, 15, 31, 14, 138, 45, 55, 23, 38, 10, 401,
         52, 6, 3, 6, 5, 32, 35, 133, 52, 820, 43, 195, 8, 42, 40, 4, 32, 30, 9, 22, 6, 23, 5, 54, 8, 22, 65,
         246),
        (12198, 3566, 15993, 35522, 2367, 4609, 3171, 181745, 4372, 4951, 3100, 24665, 13210, 7061, 18061, 17449,
         5644, 6787, 111326, 8776, 3334, 2271, 7389, 2659, 3665, 4724, 3561, 5085, 27407, 4601, 4756, 4120, 4736,
         3788, 45292, 14719, 2189, 5589, 11995, 222255, 2308, 70034, 4801, 8274, 5421, 31912, 12213, 13576, 6230,
         10382, 4141, 85731, 12811, 2707, 2250, 2668, 2886, 9581, 9465, 28336, 12062, 162793, 12107, 41240, 3162,
         11604, 10818, 2923, 8897, 8654, 4000, 6580, 3174, 6766, 2602, 14506, 3968, 7523, 16532, 51964),
    ),
    "men": (
        (47, 8, 62, 142, 3, 6, 100, 48, 23, 71, 61, 13, 16, 518, 30, 7, 4, 23, 8, 10, 11, 11, 18, 121, 11, 4, 32,
         30, 9, 22, 6, 23, 5, 54),
        (12198, 3566, 15993, 35522, 2367, 3100, 24665, 13210, 7061, 18061, 17449, 5644, 6787, 111326, 8776, 3334,
         2271, 7389, 2659, 3665, 4724, 3561, 5085, 27407, 4601, 2923, 8897, 8654, 4000, 6580, 3174, 6766, 2602,
         14506),
    ),
    "women": (
        (12, 7, 984, 13, 15, 15, 11, 14, 9, 200, 72, 3, 14, 49, 1278, 3, 325, 14, 27, 14, 169, 48, 47, 18, 40,
         12, 447, 46, 5, 3, 5, 7, 35, 34, 99, 30, 880, 51, 182, 6, 45, 39, 10, 24, 72, 229),
        (3612, 3173, 204484, 4517, 4765, 5331, 4131, 4728, 4028, 44280, 17918, 2309, 4339, 12922, 270771, 2480,
         68475, 5129, 7367, 5819, 38026, 13047, 11604, 5394, 10912, 4439, 94485, 10700, 2679, 2319, 2578, 3288,
         9566, 9775, 20120, 7317, 172026, 13673, 37329, 3365, 10911, 10734, 4278, 7574, 16826, 47462),
    ),
}  # fmt: skip


class UnknownCampaign(ValueError):
    """A campaign or behaviour policy the Open Bandit Dataset does not have."""


@dataclass(frozen=True)
class BanditLog:
    """Logged bandit feedback, one row per impression, in time order.

    `positions` are 0-based (0 = left); `pscores` are the logging policy's probabilities of showing that item
    in that position; `contexts` is the one-hot encoding of the user features; `action_contexts` describes
    each item (one-hot of its categorical features, then its numeric feature)."""

    actions: np.ndarray  # (n,) int
    positions: np.ndarray  # (n,) int, 0 .. len_list - 1
    rewards: np.ndarray  # (n,) float, click 0/1
    pscores: np.ndarray  # (n,) float in (0, 1]
    contexts: np.ndarray  # (n, n_user_features_one_hot) float
    action_contexts: np.ndarray  # (n_actions, n_item_features) float
    n_actions: int
    len_list: int

    @property
    def n_rounds(self) -> int:
        return len(self.actions)

    def take(self, rows: np.ndarray) -> BanditLog:
        """The log restricted to (or resampled at) these row indices: a bootstrap sample, a fold."""
        return BanditLog(
            actions=self.actions[rows],
            positions=self.positions[rows],
            rewards=self.rewards[rows],
            pscores=self.pscores[rows],
            contexts=self.contexts[rows],
            action_contexts=self.action_contexts,
            n_actions=self.n_actions,
            len_list=self.len_list,
        )


def one_hot(columns: Sequence[Sequence[str]]) -> np.ndarray:
    """One 0/1 column per distinct value of each categorical column (values in sorted order), side by side.

    Every level is kept (no reference level dropped): the reward models here are regularised, so the
    redundancy costs nothing and every level stays interpretable."""
    blocks = []
    for values in columns:
        levels, codes = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
        block = np.zeros((len(codes), len(levels)))
        block[np.arange(len(codes)), codes] = 1.0
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((0, 0))


def parse_open_bandit_log(log_rows: Iterable[dict[str, str]], item_rows: Iterable[dict[str, str]]) -> BanditLog:
    """Arrays from the rows of a campaign's log (`<campaign>.csv`) and of its `item_context.csv`, as
    dictionaries keyed by column name. Rows are put in time order; positions 1..3 become 0..2."""
    log = sorted(log_rows, key=lambda row: row["timestamp"])  # ISO timestamps sort as text; the sort is stable
    if not log:
        raise ValueError("the log has no rows")
    items = sorted(item_rows, key=lambda row: int(row["item_id"]))
    n_actions = len(items)
    if [int(row["item_id"]) for row in items] != list(range(n_actions)):
        raise ValueError("item_context must list item_id 0 .. n_actions - 1, each once")

    actions = np.array([int(row["item_id"]) for row in log])
    raw_positions = np.array([int(row["position"]) for row in log])
    _, positions = np.unique(raw_positions, return_inverse=True)  # dense rank: 1,2,3 -> 0,1,2
    rewards = np.array([float(row["click"]) for row in log])
    pscores = np.array([float(row["propensity_score"]) for row in log])
    if actions.min() < 0 or actions.max() >= n_actions:
        raise ValueError("an item_id in the log is not in item_context")

    user_columns = sorted((name for name in log[0] if name.startswith("user_feature_")), key=_column_number)
    contexts = one_hot([[row[name] for row in log] for name in user_columns])
    item_categorical = sorted(
        (name for name in items[0] if name.startswith("item_feature_") and name != "item_feature_0"),
        key=_column_number,
    )
    item_numeric = np.array([[float(row["item_feature_0"])] for row in items])
    action_contexts = np.hstack([one_hot([[row[name] for row in items] for name in item_categorical]), item_numeric])
    return BanditLog(
        actions=actions,
        positions=positions.astype(int),
        rewards=rewards,
        pscores=pscores,
        contexts=contexts,
        action_contexts=action_contexts,
        n_actions=n_actions,
        len_list=int(positions.max()) + 1,
    )


def read_open_bandit_log(root: Path, behavior_policy: str, campaign: str = "all") -> BanditLog:
    """The log of one behaviour policy (`random` or `bts`) in one campaign (`all`, `men`, `women`), read from
    the dataset's folder layout `<root>/<behavior_policy>/<campaign>/{<campaign>.csv,item_context.csv}`."""
    _check(behavior_policy, campaign)
    folder = Path(root) / behavior_policy / campaign
    with open(folder / f"{campaign}.csv", newline="") as log_file, open(folder / "item_context.csv") as items_file:
        return parse_open_bandit_log(csv.DictReader(log_file), csv.DictReader(items_file))


def bernoulli_ts_action_dist(
    alpha: Sequence[float] | np.ndarray,
    beta: Sequence[float] | np.ndarray,
    len_list: int = LEN_LIST,
    n_sim: int = 100_000,
    random_state: int | np.random.Generator | None = None,
    chunk_size: int = 10_000,
) -> np.ndarray:
    """How often a Bernoulli Thompson Sampling policy puts each item at each position: shape
    (n_actions, len_list), each column summing to 1.

    Each simulated round draws one click rate per item from its Beta(alpha, beta) posterior and shows the
    `len_list` items with the highest draws, best first: the way obp's `BernoulliTS.compute_batch_action_dist`
    estimates the policy (by Monte Carlo, as its ranking probabilities have no closed form), vectorised."""
    alpha = np.asarray(alpha, dtype=float)
    beta = np.asarray(beta, dtype=float)
    if alpha.shape != beta.shape or alpha.ndim != 1:
        raise ValueError("alpha and beta must be 1-d arrays of the same length")
    if not 1 <= len_list <= len(alpha):
        raise ValueError(f"len_list must be between 1 and the number of actions ({len(alpha)})")
    if n_sim < 1:
        raise ValueError("n_sim must be at least 1")
    rng = np.random.default_rng(random_state)
    counts = np.zeros((len(alpha), len_list))
    done = 0
    while done < n_sim:
        size = min(chunk_size, n_sim - done)
        draws = rng.beta(alpha, beta, size=(size, len(alpha)))
        top = np.argsort(-draws, axis=1)[:, :len_list]
        for position in range(len_list):
            counts[:, position] += np.bincount(top[:, position], minlength=len(alpha))
        done += size
    return counts / n_sim


def zozotown_bts_action_dist(
    campaign: str = "all",
    n_sim: int = 100_000,
    random_state: int | np.random.Generator | None = 12345,
) -> np.ndarray:
    """The action distribution (n_actions, 3) of ZOZOTOWN's Bernoulli Thompson Sampling at its production
    prior: the evaluation policy of the dataset's benchmark (obp's `BernoulliTS(is_zozotown_prior=True)`)."""
    _check("bts", campaign)
    alpha, beta = ZOZOTOWN_BTS_PRIOR[campaign]
    return bernoulli_ts_action_dist(alpha, beta, len_list=LEN_LIST, n_sim=n_sim, random_state=random_state)


def _check(behavior_policy: str, campaign: str) -> None:
    if behavior_policy not in BEHAVIOR_POLICIES:
        raise UnknownCampaign(f"behavior_policy must be one of {BEHAVIOR_POLICIES}, not {behavior_policy!r}")
    if campaign not in CAMPAIGNS:
        raise UnknownCampaign(f"campaign must be one of {CAMPAIGNS}, not {campaign!r}")


def _column_number(name: str) -> int:
    return int(name.rsplit("_", 1)[1])
