"""Experiments: define, start, assign (sticky per person, every exposure logged), stop, and read results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from afinidad.api.dependencies import Platform, platform, read_session, secret_caller
from afinidad.decide import experiment_service as service
from afinidad.decide import next_action as next_actions
from afinidad.workspaces.service import Caller

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])


@router.post("", status_code=201, summary="Define an experiment (a draft until started)")
def create(body: dict[str, Any] = Body(...), caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
           ) -> dict[str, Any]:  # fmt: skip
    """`key`, `variants` (id, weight in percent summing to 100, optional content), `metrics` (the first is
    primary) and optional `guardrails`, `targeting`, `traffic`, `control`, `alpha`, `correction`,
    `cuped_days`, `planned_units_per_arm`; see docs/decide.md."""
    with p.store.session() as session:
        return service.create_experiment(session, caller.workspace_id, body)


@router.get("", summary="The workspace's experiments")
def list_all(caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)) -> dict[str, Any]:
    return {"data": service.list_experiments(session, caller.workspace_id)}


@router.get("/{experiment}", summary="One experiment, by id or key")
def get_one(experiment: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
            ) -> dict[str, Any]:  # fmt: skip
    return service.describe(service.get_row(session, caller.workspace_id, experiment))


@router.put("/{experiment}", summary="Replace an experiment's definition (variants only while a draft)")
def replace(experiment: str, body: dict[str, Any] = Body(...), caller: Caller = Depends(secret_caller),
            p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.update_experiment(session, caller.workspace_id, experiment, body)


@router.post("/{experiment}/start", summary="Start assigning units")
def start(experiment: str, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)) -> dict[str, Any]:
    with p.store.session() as session:
        return service.start_experiment(session, caller.workspace_id, experiment)


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ship: str | None = Field(None, max_length=40, description="The variant everyone sees from now on.")


@router.post("/{experiment}/stop", summary="Stop assigning; optionally ship a variant to everyone")
def stop(experiment: str, body: StopIn | None = None, caller: Caller = Depends(secret_caller),
         p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.stop_experiment(session, caller.workspace_id, experiment, body.ship if body else None)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(max_length=255, description="Who: a user id, anonymous id, e-mail, profile id...")
    context: dict[str, Any] = Field(default_factory=dict, description="local_time, device, weather...")


@router.post("/{experiment}/assign", summary="The variant this person sees (an exposure is logged)")
def assign(experiment: str, body: AssignIn, caller: Caller = Depends(secret_caller), p: Platform = Depends(platform)
           ) -> dict[str, Any]:  # fmt: skip
    with p.store.session() as session:
        return service.assign(session, caller.workspace_id, experiment, body.user, body.context)


@router.get("/{experiment}/results", summary="Per metric: each variant against control, and a verdict")
def results(experiment: str, caller: Caller = Depends(secret_caller), session: Session = Depends(read_session)
            ) -> dict[str, Any]:  # fmt: skip
    """Fixed-horizon (Welch / delta method, CUPED), Bayesian (chance to beat control, expected loss) and
    always-valid intervals, the sample-ratio check, guardrails, and a summary; safe to read every day."""
    return service.results(session, caller.workspace_id, experiment)


class NextActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(max_length=255, description="Who: a user id, e-mail, profile id...")


@router.post("/{experiment}/next-action", summary="The best action for this person, learned from the experiment")
def next_action(experiment: str, body: NextActionIn, caller: Caller = Depends(secret_caller),
                p: Platform = Depends(platform)) -> dict[str, Any]:  # fmt: skip
    """Each variant's expected gain over the control for this person, and the one to take (the control, e.g.
    "send nothing", when none is expected to gain); needs `afinidad experiments next-action KEY` first."""
    with p.store.session() as session:
        return next_actions.next_best_action(session, caller.workspace_id, experiment, body.user)
