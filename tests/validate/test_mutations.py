"""Property: a random valid workflow passes; the same workflow with one name changed is flagged.

Workflows are built from random params, jobs with ``needs:`` on earlier jobs, optional
matrices and stages (some of them foreach loops) reading what is really there (params, earlier
stages, jobs reachable through needs, matrix keys, ``item`` and ``loop`` inside loops). Then one
name of one expression is changed.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runwright.check import check_conf
from runwright.runtime import Runtime

NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta", "src-table", "run_date", "limit", "mode"])


@functools.cache
def shared_runtime() -> Runtime:
    return Runtime()


@st.composite
def workflows(draw: Any) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    params = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    job_count = draw(st.integers(1, 4))
    jobs: dict[str, Any] = {}
    refs: list[tuple[str, str, str]] = []
    reachable: dict[str, set[str]] = {}
    for j in range(job_count):
        job_id = f"job-{j}"
        earlier = list(jobs)
        needs = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        reachable[job_id] = set(needs).union(*(reachable[n] for n in needs)) if needs else set()
        matrix = draw(st.lists(NAMES, max_size=2, unique=True))
        stages: list[dict[str, Any]] = []
        for s in range(draw(st.integers(1, 4))):
            options = [f"params.{p}" for p in params]
            options += [f"stages.s{k}.outputs" for k in range(s)]
            options += [f"jobs.{n}.status" for n in sorted(reachable[job_id])]
            options += [f"matrix.{k}" for k in matrix]
            if draw(st.booleans()):  # a foreach: its body also sees item and loop
                ref = draw(st.sampled_from([*options, "item", "loop.index", "loop.last"]))
                body = [{"id": "inner", "echo": "value: ${{ " + ref + " }}"}]
                stages.append({"id": f"s{s}", "foreach": [1, 2], "stages": body})
                refs.append((job_id, f"stages[{s}].stages[0]", ref))
            else:
                ref = draw(st.sampled_from(options))
                stages.append({"id": f"s{s}", "echo": "value: ${{ " + ref + " }}"})
                refs.append((job_id, f"stages[{s}]", ref))
        job: dict[str, Any] = {"stages": stages}
        if needs:
            job["needs"] = needs
        if matrix:
            job["strategy"] = {"matrix": {k: [1, 2] for k in matrix}}
        jobs[job_id] = job
    template = {
        "type": "Workflow",
        "params": {p: {"type": "str", "default": "x"} for p in params},
        "jobs": jobs,
    }
    return {"wf": template}, refs


def mutate(ref: str, how: str) -> str:
    root, _, rest = ref.partition(".")
    key, _, tail = rest.partition(".")
    if how == "root" or not rest:
        return f"{root}{root[-1]}" + (f".{rest}" if rest else "")
    return f"{root}.{key}x" + (f".{tail}" if tail else "")


def check(document: dict[str, Any]) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "wf.yml"
        file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return check_conf(file, shared_runtime())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows(), st.data())
def test_one_changed_name_is_flagged(generated: Any, data: Any) -> None:
    document, refs = generated
    assert check(document).errors == []
    job_id, where, ref = data.draw(st.sampled_from(refs))
    how = data.draw(st.sampled_from(["root", "key"]))
    stage = document["wf"]["jobs"][job_id]
    for part in where.replace("]", "").split("."):
        name, index = part.split("[")
        stage = stage[name][int(index)]
    stage["echo"] = stage["echo"].replace(ref, mutate(ref, how))
    report = check(document)
    flagged = [f for f in report.errors if f.where == f"template 'wf' jobs.{job_id}.{where}.echo"]
    assert len(flagged) == 1 and len(report.errors) == 1, report.text()
