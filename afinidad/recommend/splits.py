"""The evaluation split: each user's latest interactions are the test set, as a shop would meet them (the
future is never used to predict the past, unlike a random split)."""

from __future__ import annotations

import numpy as np

from afinidad.recommend.interactions import Interactions


def time_split(data: Interactions, test_fraction: float = 0.2) -> tuple[Interactions, Interactions]:
    """Per user, the last `test_fraction` of their interactions by time (at least one, when they have two or
    more) go to the test set; ties in time keep the source's order. Test pairs the user already has in
    training are dropped: a full ranking excludes training items, so they could never be recommended."""
    order = np.lexsort((np.arange(len(data)), data.times, data.users))
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)
    per_user = np.repeat(counts, counts)
    n_test = np.where(per_user >= 2, np.maximum(1, np.round(per_user * test_fraction)), 0)
    is_test = np.zeros(len(data), dtype=bool)
    is_test[order] = rank >= per_user - n_test
    train, test = data.subset(~is_test), data.subset(is_test)
    seen = set(zip(train.users.tolist(), train.items.tolist(), strict=True))
    fresh = np.fromiter(((u, i) not in seen for u, i in zip(test.users.tolist(), test.items.tolist(), strict=True)),
                        dtype=bool, count=len(test))  # fmt: skip
    return train, test.subset(fresh)
