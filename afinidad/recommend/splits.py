"""The evaluation split: each user's latest interactions are the test set, as a shop would meet them (the
future is never used to predict the past, unlike a random split). Also the clean-up any given (train, test)
pair needs before a full ranking can be scored fairly, shared with the shipped folds (`folds`)."""

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
    train = data.subset(~is_test)
    return train, drop_known_pairs(train, data.subset(is_test))


def drop_known_pairs(train: Interactions, test: Interactions) -> Interactions:
    """`test` without the (user, item) pairs already in `train`: a full ranking excludes the user's training
    items, so such a pair could never be recommended and would only lower every model's recall alike."""
    seen = set(zip(train.users.tolist(), train.items.tolist(), strict=True))
    fresh = np.fromiter(((u, i) not in seen for u, i in zip(test.users.tolist(), test.items.tolist(), strict=True)),
                        dtype=bool, count=len(test))  # fmt: skip
    return test.subset(fresh)


def trained_items_only(train: Interactions, test: Interactions) -> tuple[Interactions, Interactions]:
    """Both sides re-coded onto the items `train` holds, test interactions with any other item dropped. A
    given split (unlike `time_split`, which keeps the whole catalog) can leave items in test that no model
    saw: nothing can learn to recommend them, so the ranking and the figures cover trained items only."""
    kept = np.unique(train.items)
    code = np.full(len(train.item_ids), -1, dtype=np.int32)
    code[kept] = np.arange(len(kept), dtype=np.int32)
    known = code[test.items] >= 0

    def recoded(part: Interactions, mask: np.ndarray) -> Interactions:
        return Interactions(part.users[mask], code[part.items[mask]], part.times[mask], part.user_ids,
                            part.item_ids[kept])  # fmt: skip

    return recoded(train, np.ones(len(train), dtype=bool)), recoded(test, known)
