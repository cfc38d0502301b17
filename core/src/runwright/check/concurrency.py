"""Checks of the concurrency keys: group expressions, pools that exist, weights that fit, and
no pool taken inside another (docs/concurrency.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runwright.spelling import did_you_mean

if TYPE_CHECKING:
    from runwright.check.checker import Checker, Names, TemplateCheck
    from runwright.models.stage import Stage


def check_concurrency(
    checker: Checker, tc: TemplateCheck, workflow: Any, run_names: Names, job_names: Mapping[str, Names]
) -> None:
    """``run_names``: what a workflow's group may use (params, release); ``job_names``: per job,
    what its group may use (with matrix and needs)."""
    if workflow.concurrency is not None:
        checker.check_value(tc, workflow.concurrency.group, ("concurrency", "group"), run_names)
    pools = checker.pools
    for job_id, job in workflow.jobs.items():
        path = ("jobs", job_id)
        if job.concurrency is not None:
            checker.check_value(tc, job.concurrency.group, (*path, "concurrency", "group"), job_names[job_id])
        if job.pool is not None:
            check_pool(tc, pools, job.pool, job.pool_slots, path)
        for stage_path, stage in stages_with_pools(job, path):
            check_pool(tc, pools, stage.pool, stage.pool_slots, stage_path)  # type: ignore[arg-type]
            if job.pool is not None:
                tc.add(
                    "pool-nested",
                    f"stage takes pool '{stage.pool}' inside job '{job_id}', which holds pool '{job.pool}': "
                    "two runs could each hold what the other waits for; give the pool to the job or "
                    "to its stages, not both",
                    (*stage_path, "pool"),
                    key=True,
                )


def check_pool(
    tc: TemplateCheck, pools: Mapping[str, int] | None, name: str, weight: int, path: tuple[Any, ...]
) -> None:
    """``name`` is a ``type: Pool`` template of the conf, with at least ``weight`` slots."""
    if pools is None:  # a template checked alone: the conf's pools are not known
        return
    if name not in pools:
        declared = ", ".join(sorted(pools)) or "none"
        tc.add(
            "pool-unknown",
            f"pool '{name}' is not declared{did_you_mean(name, pools)}: write a `type: Pool` template "
            f"named '{name}' with `slots:` (pools: {declared})",
            (*path, "pool"),
            key=True,
        )
    elif weight > pools[name]:
        tc.add(
            "pool-slots",
            f"pool-slots {weight} is more than pool '{name}' has ({pools[name]}): it would only ever "
            "run with the pool to itself",
            (*path, "pool-slots"),
            key=True,
        )


def stages_with_pools(job: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Stage]]:
    """Every stage of the job (nested ones too) that takes a pool, with its path."""

    def walk(stages: list[Stage], where: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Stage]]:
        for index, stage in enumerate(stages):
            here = (*where, index)
            if stage.pool is not None:
                yield here, stage
            for extra, group in (("catch", stage.catch), ("finally", stage.finally_)):
                if group:
                    yield from walk(group, (*here, extra))
            for nested in stage.nested_stages():
                yield from walk(nested, here)

    yield from walk(job.stage_list, (*path, "stages"))
    for key, group in (("catch", job.catch), ("finally", job.finally_)):
        if group:
            yield from walk(group, (*path, key))
