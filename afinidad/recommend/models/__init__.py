"""The recommenders, each an estimator: `fit(train)` on a users x items matrix, then `scores(rows)` for the
rows of some users. `top_k` ranks with the users' own items excluded."""

from afinidad.recommend.models.base import Recommender, top_k
from afinidad.recommend.models.ease import Ease
from afinidad.recommend.models.factors import ImplicitAls
from afinidad.recommend.models.neighbours import ItemKnn, Rp3Beta
from afinidad.recommend.models.popularity import Popularity

__all__ = ["Ease", "ImplicitAls", "ItemKnn", "Popularity", "Recommender", "Rp3Beta", "top_k"]
