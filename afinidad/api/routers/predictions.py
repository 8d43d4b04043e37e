"""A person's predictions, as stored on their profile, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from afinidad.api.dependencies import read_session, secret_caller
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/profiles", tags=["predictions"])


@router.get("/{identifier}/predictions", summary="Expected orders, churn and lifetime value, and the reasons")
def get_predictions(identifier: str, caller: Caller = Depends(secret_caller),
                    session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    """Someone without orders gets a defined answer that says so (no scores), not an error."""
    # imported here: the models pull in LightGBM, scikit-learn and scipy (1.1 s), which the rest of the API,
    # and the server's start, need not wait for
    from afinidad.predict.service import predictions

    return predictions(session, caller.workspace_id, identifier)
