"""Segments: groups of customers to act on. Rule segments (`rules`, `service`); RFM scores and their named
groups (`rfm`); behavioural features per customer (`features`), learned micro-segments with ids stable across
retrains (`clusters`) and their descriptions in words (`describe`).

The RFM and micro-segment names below are re-exported lazily (PEP 562): importing the rule segments, which
the API and the event follower do, must not pay for scikit-learn (about 1 s) that only the clustering needs."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "MicroSegments": "clusters",
    "SegmentMatch": "clusters",
    "SegmentsNotFitted": "clusters",
    "NO_PURCHASE_SEGMENT": "describe",
    "describe_segments": "describe",
    "distinguishing_features": "describe",
    "CustomerFeatures": "features",
    "FeatureKind": "features",
    "OrderLines": "features",
    "customer_features": "features",
    "GROUPS": "rfm",
    "NO_PURCHASE": "rfm",
    "Rfm": "rfm",
    "RfmNotFitted": "rfm",
    "RfmScores": "rfm",
    "RfmSummary": "rfm",
    "groups_of": "rfm",
    "rfm_summary": "rfm",
}

__all__ = [
    "GROUPS",
    "NO_PURCHASE",
    "NO_PURCHASE_SEGMENT",
    "CustomerFeatures",
    "FeatureKind",
    "MicroSegments",
    "OrderLines",
    "Rfm",
    "RfmNotFitted",
    "RfmScores",
    "RfmSummary",
    "SegmentMatch",
    "SegmentsNotFitted",
    "customer_features",
    "describe_segments",
    "distinguishing_features",
    "groups_of",
    "rfm_summary",
]

if TYPE_CHECKING:
    from afinidad.segments.clusters import MicroSegments, SegmentMatch, SegmentsNotFitted
    from afinidad.segments.describe import NO_PURCHASE_SEGMENT, describe_segments, distinguishing_features
    from afinidad.segments.features import CustomerFeatures, FeatureKind, OrderLines, customer_features
    from afinidad.segments.rfm import (
        GROUPS,
        NO_PURCHASE,
        Rfm,
        RfmNotFitted,
        RfmScores,
        RfmSummary,
        groups_of,
        rfm_summary,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
