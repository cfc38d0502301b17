"""A template the models refuse still gets every other check, in the same run.

pydantic stops at the first layer it cannot build: an unknown key in one job hides the
``needs:`` check of the workflow (an after-validator) and every expression of every job. So
each refused part is set aside and the rest is built again, a bounded number of rounds: a bad
value is dropped, a stage or job that cannot be built becomes a stand-in with the same id (so
``stages.ID`` and ``jobs.ID`` still resolve), a param keeps its name, a strategy keeps its keys,
``needs:`` keeps the jobs that exist. Every round's problems are reported once; the model of the
last round is checked like any other. Problems that only the setting aside caused (a key it
removed is now "missing") are not reported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from typing import Any

from runwright.errors import Problem, TemplateError
from runwright.loader import TemplateSource, build_model

MAX_ROUNDS = 12
STAGE_LISTS = frozenset({"stages", "catch", "finally"})
Loc = tuple[Any, ...]


def build_salvaged(
    source: TemplateSource, runtime: Any, missing_env: list[tuple[str, str]]
) -> tuple[list[Problem], Any | None]:
    """Every problem of ``source`` and a model of what could be built (None when nothing)."""
    try:
        return [], build_model(source, runtime, missing_env=missing_env)
    except TemplateError as exc:
        problems = list(exc.problems)
    raw: dict[str, Any] = copy.deepcopy(dict(source.raw))
    aside = SetAside(raw, set(runtime.stage_kinds))
    seen = {(p.loc, p.message) for p in problems}
    pending = problems
    for _ in range(MAX_ROUNDS):
        if not any([aside.problem(problem) for problem in pending]):  # every one is tried
            return problems, None
        try:
            return problems, build_model(replace(source, raw=raw), runtime, missing_env=[])
        except TemplateError as exc:
            pending = exc.problems
        for problem in pending:
            if (problem.loc, problem.message) not in seen and not aside.caused(problem):
                seen.add((problem.loc, problem.message))
                problems.append(problem)
    return problems, None


class SetAside:
    """Changes one raw template so that a refused part no longer stops the rest."""

    def __init__(self, raw: dict[str, Any], kinds: set[str]) -> None:
        self.raw = raw
        self.kinds = kinds
        self.removed: set[Loc] = set()
        self.stand_ins: set[Loc] = set()

    def caused(self, problem: Problem) -> bool:
        """A problem inside something set aside, or a key it removed now missing."""
        loc = tuple(problem.loc)
        if not loc and (match := re.search(r"job '([^']+)' needs unknown job", problem.message)):
            loc = ("jobs", match.group(1), "needs")
        return loc in self.removed or any(loc[: len(done)] == done for done in self.stand_ins)

    def problem(self, problem: Problem) -> bool:
        loc = tuple(problem.loc)
        if not loc:
            return self.workflow_level(problem.message)
        if problem.message.startswith("unknown key"):
            meant = re.search(r"did you mean '([^']+)'", problem.message)
            parent = self.node(loc[:-1])
            if isinstance(parent, MutableMapping) and loc[-1] in parent:
                value = parent.pop(loc[-1])
                if meant and meant.group(1) not in parent:  # read `neds:` as the `needs:` it means
                    parent[meant.group(1)] = value
                    self.stand_ins.add((*loc[:-1], meant.group(1)))  # a guess: not judged
                return True
            return False
        if problem.message == "this key is required but missing":
            return self.at(loc[:-1], problem.message)
        return self.at(loc, problem.message)

    # -- places --------------------------------------------------------------------------------

    def node(self, loc: Loc) -> Any:
        value: Any = self.raw
        for part in loc:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def is_stage(self, loc: Loc) -> bool:
        value = self.node(loc)
        return (
            len(loc) >= 2
            and isinstance(loc[-1], int)
            and isinstance(value, Mapping)
            and (loc[-2] in STAGE_LISTS or bool(self.kinds & set(value)))
        )

    def at(self, loc: Loc, message: str) -> bool:
        """Set aside the value at ``loc`` (or the nearest part that can be)."""
        while loc and self.node(loc) is None:
            loc = loc[:-1]
        if not loc:
            return False
        if loc[0] == "params" and len(loc) >= 2:
            return self.replace(loc[:2], {"type": "str", "default": ""})
        if "strategy" in loc:
            return self.strategy(loc[: loc.index("strategy") + 1])
        if loc[0] == "jobs" and len(loc) >= 3 and loc[2] == "needs":
            return self.needs(loc[1])
        # the innermost stage holding loc: a field of it is dropped, the stage itself replaced
        for end in range(len(loc), 1, -1):
            if self.is_stage(loc[:end]):
                if end < len(loc):
                    break
                if "have the id" in message and self.rename_duplicates(loc, message):
                    return True
                return self.replace(loc, self.stage_stand_in(self.node(loc)))
        if loc[0] == "jobs" and len(loc) == 2:
            return self.job(loc, message)
        for index, part in enumerate(loc):  # a list that is not of stages goes as a whole
            if isinstance(part, int) and not self.is_stage(loc[: index + 1]):
                loc = loc[:index]
                break
        parent = self.node(loc[:-1])
        if isinstance(parent, MutableMapping) and loc[-1] in parent:
            del parent[loc[-1]]
            self.removed.add(loc)
            return True
        return False

    def replace(self, loc: Loc, value: Any) -> bool:
        parent = self.node(loc[:-1])
        if parent is None or self.node(loc) == value:
            return False
        parent[loc[-1]] = value
        self.stand_ins.add(loc)
        return True

    # -- stand-ins -----------------------------------------------------------------------------

    def stage_stand_in(self, stage: Mapping[str, Any]) -> dict[str, Any]:
        """A stage that builds, with the same id (an id holding ``${{`` is left out)."""
        stand_in: dict[str, Any] = {"echo": ""}
        for key in ("id", "name"):
            if isinstance(stage.get(key), str) and "${{" not in stage[key]:
                stand_in[key] = stage[key]
                break
        return stand_in

    def job(self, loc: Loc, message: str) -> bool:
        job = self.node(loc)
        if not isinstance(job, MutableMapping):
            return self.replace(loc, {"stages": [{"id": "stand-in", "echo": ""}]})
        if "have the id" in message and self.rename_duplicates(loc, message):
            return True
        if "runs-on" in message and job.pop("runs-on", None) is not None:
            return True
        stages = [self.stage_stand_in(s) for s in job.get("stages") or [] if isinstance(s, Mapping)]
        outputs = job.get("outputs") if isinstance(job.get("outputs"), Mapping) else {}
        stand_in = {
            "needs": self.known_jobs(job.get("needs")),
            "stages": stages or [{"id": "stand-in", "echo": ""}],
            "outputs": {str(key): "" for key in outputs},
        }
        return self.replace(loc, stand_in)

    def strategy(self, loc: Loc) -> bool:
        """A strategy with the same matrix keys (so ``matrix.X`` still resolves)."""
        strategy = self.node(loc)
        matrix = strategy.get("matrix") if isinstance(strategy, Mapping) else None
        axes = {str(k): [0] for k in matrix} if isinstance(matrix, Mapping) else {}
        for key in ("include", "exclude"):
            axes.pop(key, None)
        include = []
        entries = strategy.get("include") if isinstance(strategy, Mapping) else None
        if entries is None and isinstance(matrix, Mapping):
            entries = matrix.get("include")  # the GitHub Actions form
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping):
                include.append({str(k): 0 for k in entry})
        return self.replace(loc, {"matrix": axes, "include": include})

    def known_jobs(self, needs: Any) -> list[str]:
        jobs = self.raw.get("jobs") if isinstance(self.raw.get("jobs"), Mapping) else {}
        needs = [needs] if isinstance(needs, str) else needs if isinstance(needs, list) else []
        return [need for need in needs if isinstance(need, str) and need in jobs]

    def needs(self, job_id: Any) -> bool:
        job = self.node(("jobs", job_id))
        if not isinstance(job, MutableMapping) or "needs" not in job:
            return False
        known = self.known_jobs(job["needs"])
        if known == job["needs"]:
            return False
        job["needs"] = known
        return True

    def rename_duplicates(self, loc: Loc, message: str) -> bool:
        """Two stages with one id: the later ones get another, the first keeps it."""
        match = re.search(r"have the id '([^']+)'", message)
        if not match:
            return False
        duplicate, changed = match.group(1), False

        def walk(value: Any) -> None:
            nonlocal changed
            if isinstance(value, list):
                count = 0
                for item in value:
                    if isinstance(item, MutableMapping) and item.get("id") == duplicate:
                        count += 1
                        if count > 1:
                            item["id"] = f"{duplicate}-duplicate-{count}"
                            changed = True
            if isinstance(value, Mapping):
                value = list(value.values())
            if isinstance(value, list):
                for item in value:
                    walk(item)

        walk(self.node(loc))
        return changed

    def workflow_level(self, message: str) -> bool:
        """An after-validator of the whole workflow (``needs:``, cycles, ids, ``runs-on``)."""
        if match := re.search(r"job '([^']+)' needs unknown job", message):
            return self.needs(match.group(1))
        if match := re.search(r"jobs form a cycle: (.+)$", message):
            first = match.group(1).split(" -> ")[0]
            job = self.node(("jobs", first))
            if isinstance(job, MutableMapping) and job.pop("needs", None) is not None:
                return True
        if match := re.search(r"job '([^']+)' has id", message):
            job = self.node(("jobs", match.group(1)))
            if isinstance(job, MutableMapping) and job.pop("id", None) is not None:
                return True
        if "runs-on" in message and self.raw.pop("runs-on", None) is not None:
            return True
        return False
