"""What each context name holds at one place of a template: the checker's view of a run.

A :class:`Shape` lists the keys a value is known to have (``None``: anything may be there).
The shapes are built from the same facts the runtime uses: declared params, ``needs:``,
strategy matrices, the stage record keys (``STAGE_RECORD_KEYS``) and what each stage kind
binds for its children (the ``stage_scopes`` hook).
"""

from __future__ import annotations

import functools
import graphlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runwright.models.release import RELEASE_KEYS
from runwright.models.stage import STAGE_RECORD_KEYS, Stage

JOB_RECORD_KEYS = (
    "status",
    "stages",
    "strategies",
    "errors",
    "reason",
    "outcome",
    "caught",
    "catch",
    "finally",
    "reused",
)

BOUND_ELSEWHERE = {
    "item": "inside foreach and until stages",
    "loop": "inside foreach and until stages",
    "case": "inside the branches of a case stage",
    "branch": "inside the branches of a parallel stage",
    "error": "inside catch and finally stages",
}
"""Where the built-in names that are not everywhere are set (for 'unknown name' messages)."""


@dataclass(frozen=True)
class Shape:
    """The keys a context value holds; ``keys=None`` means they are known only at run time."""

    keys: Mapping[str, Shape] | None = None
    rule: str = "unknown-key"
    label: str = ""
    """What this value is, for messages (``workflow 'etl' params``)."""
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Keys that exist elsewhere but not here, with why (``job 'b' is not in needs``)."""


ANY = Shape()


def closed(keys: Iterable[str], rule: str = "unknown-key", label: str = "") -> Shape:
    return Shape({key: ANY for key in keys}, rule, label)


STAGE_RECORD = closed(STAGE_RECORD_KEYS, label="a stage record")
OutputsOf = Callable[[Stage], "frozenset[str] | None"]
"""The output names a stage can bind (None: not known before it runs)."""


@functools.lru_cache(maxsize=4096)
def stage_record(stage_id: str, outputs: frozenset[str] | None) -> Shape:
    """``stages.ID``: its record, with the output names it can bind when they are known (one
    shape per id and names, shared: shapes are never changed)."""
    if outputs is None:
        return STAGE_RECORD
    keys: dict[str, Shape] = {key: ANY for key in STAGE_RECORD_KEYS}
    keys["outputs"] = closed(sorted(outputs), "unknown-output", f"the outputs of stage '{stage_id}'")
    return Shape(keys, "unknown-key", "a stage record")


def stage_ids(stages: Iterable[Stage], outputs_of: OutputsOf | None = None) -> dict[str, Shape]:
    return {
        stage.identity: stage_record(stage.identity, outputs_of(stage) if outputs_of else None)
        for stage in stages
    }


class LaterStages(Mapping[str, str]):
    """Why a stage id is not in ``stages`` yet (it is this stage, or runs later); worked out on
    the first lookup, so checking n stages does not build n² messages nobody reads."""

    def __init__(self, visible: Mapping[str, Shape], later: list[str]) -> None:
        self._visible = visible
        self._later = later
        self._why: dict[str, str] | None = None

    def _reasons(self) -> dict[str, str]:
        if self._why is None:
            later, visible = self._later, self._visible
            runs_later = "it runs later (only earlier stages have results)"
            why = {sid: runs_later for sid in later[1:] if sid not in visible}
            if later and later[0] not in visible:
                why[later[0]] = "that is this stage itself (its record exists only after it ran)"
            self._why = why
        return self._why

    def __getitem__(self, key: str) -> str:
        return self._reasons()[key]

    def __iter__(self) -> Any:
        return iter(self._reasons())

    def __len__(self) -> int:
        return len(self._reasons())


def stages_shape(visible: Mapping[str, Shape], later: Iterable[str] = ()) -> Shape:
    """``stages`` at one place: earlier stages here and in enclosing scopes."""
    keys = dict(visible)
    return Shape(keys, "unknown-stage", "stages", LaterStages(keys, list(later)))


def params_shape(workflow: str, params: Iterable[str]) -> Shape:
    return closed(params, "unknown-param", f"workflow '{workflow}' params")


def matrix_shape(job_id: str, strategy: Any) -> Shape:
    if strategy is None:
        return Shape({}, "unknown-matrix-key", f"job '{job_id}' has no strategy.matrix, so matrix")
    keys = set(strategy.matrix)
    for entry in strategy.include:
        keys.update(entry)
    return closed(sorted(keys), "unknown-matrix-key", f"the matrix of job '{job_id}'")


def job_record_shape(job_id: str, job: Any, outputs_of: OutputsOf | None = None) -> Shape:
    keys: dict[str, Shape] = {key: ANY for key in JOB_RECORD_KEYS}
    if job.strategy is not None:
        keys["stages"] = Shape(
            {},
            "unknown-stage",
            f"job '{job_id}' runs a matrix: its stages are under jobs.{job_id}.strategies; stages",
        )
    else:
        stages = stage_ids(job.stage_list, outputs_of)
        keys["stages"] = Shape(stages, "unknown-stage", f"the stages of job '{job_id}'")
    if job.outputs:
        keys["outputs"] = closed(job.outputs, "unknown-key", f"the outputs of job '{job_id}'")
    return Shape(keys, "unknown-key", f"the record of job '{job_id}'")


def reachable_needs(jobs: Mapping[str, Any], job_id: str) -> set[str]:
    """Every job ``job_id`` waits for, directly or through other jobs' ``needs:``."""
    seen: set[str] = set()
    pending = list(jobs[job_id].needs)
    while pending:
        need = pending.pop()
        if need in seen or need not in jobs:
            continue
        seen.add(need)
        pending.extend(jobs[need].needs)
    return seen


class JobGraph:
    """Which jobs of one workflow wait for which, worked out once for all its jobs.

    Each job's transitive needs are one integer used as a bit set (bit ``i``: the ``i``-th
    job), built in topological order from its direct needs; so "does ``a`` wait for ``b``" is
    one bit test, and checking every job of a 3,000-job chain costs a few thousand integer
    unions instead of 3,000 walks of the chain and 3,000 copies of every record shape.
    """

    def __init__(self, jobs: Mapping[str, Any], outputs_of: OutputsOf | None = None) -> None:
        self.jobs = jobs
        self.outputs_of = outputs_of
        self.position = {job_id: index for index, job_id in enumerate(jobs)}
        self._records: dict[str, Shape] = {}
        self._needs: dict[str, int] = {}
        graph = {job_id: [n for n in job.needs if n in jobs] for job_id, job in jobs.items()}
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError:  # the model refuses cycles; walk each job's needs instead
            for job_id in jobs:
                self._needs[job_id] = sum(1 << self.position[n] for n in reachable_needs(jobs, job_id))
            return
        for job_id in order:
            bits = 0
            for need in graph[job_id]:
                bits |= self._needs[need] | (1 << self.position[need])
            self._needs[job_id] = bits

    def waits_for(self, job_id: str, other: str) -> bool:
        index = self.position.get(other)
        return index is not None and bool(self._needs[job_id] >> index & 1)

    def record_shape(self, job_id: str) -> Shape:
        """The shape of ``jobs.<job_id>``, built once per job."""
        shape = self._records.get(job_id)
        if shape is None:
            shape = self._records[job_id] = job_record_shape(job_id, self.jobs[job_id], self.outputs_of)
        return shape


class NeededJobs(Mapping[str, Shape]):
    """``jobs`` as one job sees it: the jobs it waits for, each looked up when asked."""

    def __init__(self, graph: JobGraph, job_id: str) -> None:
        self._graph = graph
        self._job_id = job_id

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._graph.waits_for(self._job_id, key)

    def __getitem__(self, key: str) -> Shape:
        if key not in self:
            raise KeyError(key)
        return self._graph.record_shape(key)

    def __iter__(self) -> Any:
        return (other for other in self._graph.jobs if self._graph.waits_for(self._job_id, other))

    def __len__(self) -> int:
        return self._graph._needs[self._job_id].bit_count()


class NotNeededJobs(Mapping[str, str]):
    """Why a job of the workflow is not in ``jobs`` here; each message made when asked."""

    def __init__(self, graph: JobGraph, job_id: str) -> None:
        self._graph = graph
        self._job_id = job_id

    def __contains__(self, key: object) -> bool:
        return key in self._graph.position and not self._graph.waits_for(self._job_id, key)  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> str:
        if key not in self:
            raise KeyError(key)
        if key == self._job_id:
            return "that is this job itself"
        return (
            f"it is not in the needs of job '{self._job_id}' (directly or transitively), "
            "so it may not have run"
        )

    def __iter__(self) -> Any:
        return (other for other in self._graph.jobs if other in self)

    def __len__(self) -> int:
        return len(self._graph.jobs) - self._graph._needs[self._job_id].bit_count()


def jobs_shape(jobs: Mapping[str, Any] | JobGraph, job_id: str, outputs_of: OutputsOf | None = None) -> Shape:
    """``jobs`` in job ``job_id``: the jobs it waits for (pass one :class:`JobGraph` for all the
    jobs of a workflow, so the graph is worked out once)."""
    graph = jobs if isinstance(jobs, JobGraph) else JobGraph(jobs, outputs_of)
    return Shape(NeededJobs(graph, job_id), "unknown-job", "jobs", NotNeededJobs(graph, job_id))


def release_shape() -> Shape:
    return closed(RELEASE_KEYS, "unknown-release-key", "release")


UPSTREAM_KEYS = ("workflow", "run_id", "status", "logical_date")


def release_event_shape() -> Shape:
    """``release`` in a workflow started by ``on: {release: [...]}``: also the upstream's release."""
    upstream = closed(UPSTREAM_KEYS, "unknown-release-key", "release.upstream")
    keys = {key: ANY for key in RELEASE_KEYS}
    return Shape({**keys, "upstream": upstream}, "unknown-release-key", "release")


def bound_shape(keys: tuple[str, ...] | None, name: str) -> Shape:
    return ANY if keys is None else closed(keys, "unknown-key", f"'{name}'")
