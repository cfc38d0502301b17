"""The observe pages: server-rendered jinja2 and a little vanilla JavaScript, no CDN, no build.

``/`` lists workflows with a Run form built from their params' types; ``/runs`` lists runs;
``/runs/{id}`` draws the job DAG and every stage, refreshed while the run goes (SSE).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from runwright.audit import ACTIVE_STATUSES, ReleaseRecord, ReleaseStatus, RunQuery
from runwright.masking import mask
from runwright.models.workflow import Workflow
from runwright.trace import read_trace
from starlette.concurrency import run_in_threadpool

from runwright_api.audits import page_of_records, run_query
from runwright_api.dag import JobNode, dag_svg
from runwright_api.security import SESSION_COOKIE, client_address, session_id_of
from runwright_api.service import BadParams, NotFound, RunService
from runwright_api.sessions import Access, TokenCheck

HERE = Path(__file__).parent
STAGE_EVENTS = {"stage-start", "stage-end", "stage-reused"}
INPUT_TYPES = {
    "int": ("number", "1"),
    "float": ("number", "any"),
    "decimal": ("number", "any"),
    "date": ("date", None),
    "datetime": ("datetime-local", None),
}
MAX_LOG_LINES_PER_STAGE = 200
FINISHED_RERUNNABLE = {"FAILED", "CANCEL", "CRASHED"}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z") if value else "—"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


templates.filters["when"] = when
templates.filters["seconds"] = seconds


def masked_record(record: ReleaseRecord) -> ReleaseRecord:
    """The record with every secret in its params, context and errors masked."""
    return record.model_copy(
        update={"params": mask(record.params), "context": mask(record.context), "errors": mask(record.errors)}
    )


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page, masked as a whole too: a secret that reached the context by any way (an id
    taken from the URL, say) shows as ``***``."""
    return HTMLResponse(mask(templates.get_template(name).render(**context)), status_code=status_code)


def form_fields(workflow: Workflow | None) -> list[dict[str, Any]]:
    """One input per param, its kind chosen by the param's type."""
    if workflow is None:
        return []
    fields = []
    for key, spec in workflow.params.items():
        field: dict[str, Any] = {
            "name": key,
            "type": spec.type,
            "required": spec.is_required(),
            "desc": spec.desc or "",
            "default": "" if spec.default is None else spec.default,
            "control": "input",
            "input_type": "text",
            "step": None,
        }
        if spec.type == "choice":
            field.update(control="select", options=[str(o) for o in getattr(spec, "options", [])])
        elif spec.type == "bool":
            field.update(control="select", options=["true", "false"])
        elif spec.type in ("array", "map"):
            field.update(control="textarea")
            if field["default"] != "":
                field["default"] = json.dumps(field["default"])
        elif spec.type in INPUT_TYPES:
            field["input_type"], field["step"] = INPUT_TYPES[spec.type]
        fields.append(field)
    return fields


def stage_entry(stages: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    if key not in stages:
        stages[key] = {"status": "RUNNING", "seconds": None, "outputs": None, "logs": [], "errors": []}
    return stages[key]


def run_picture(service: RunService, record: ReleaseRecord) -> dict[str, Any]:
    """Jobs and stages of one run: live from its trace, final details from its record."""
    workflow = service.catalog.workflows.get(record.workflow)
    nodes: dict[str, JobNode] = {}
    if workflow is not None:
        for job_id, job in workflow.jobs.items():
            total = len(job.strategy.combinations()) if job.strategy else 0
            nodes[job_id] = JobNode(job_id, list(job.needs), strategy_total=total)
    stages: dict[str, dict[str, dict[str, Any]]] = {}
    strategy_status: dict[str, dict[str, str]] = {}
    path = service.trace_file(record.run_id)
    events = list(read_trace(path)) if path.is_file() else []
    for event in events:
        job_id = event.get("job")
        if not job_id:
            continue
        node = nodes.setdefault(job_id, JobNode(job_id, []))
        kind = event.get("event", "")
        if kind == "job-start":
            node.status = "RUNNING"
        elif kind in ("job-end", "job-reused"):
            node.status = event.get("status", node.status)
        stage_id = event.get("stage")
        if not stage_id:
            continue
        strategy = event.get("strategy")
        key = f"[{strategy}] {stage_id}" if strategy else stage_id
        entry = stage_entry(stages.setdefault(job_id, {}), key)
        if strategy:
            strategy_status.setdefault(job_id, {}).setdefault(strategy, "RUNNING")
        if kind == "stage-end":
            entry["status"] = event.get("status", "SUCCESS")
            entry["seconds"] = event.get("seconds")
            entry["errors"] = event.get("errors", [])
            if strategy and entry["status"] == "FAILED":
                strategy_status[job_id][strategy] = "FAILED"
        elif kind == "stage-reused":
            entry["status"] = "SUCCESS"
            entry["reused"] = True
        elif kind != "stage-start" and len(entry["logs"]) < MAX_LOG_LINES_PER_STAGE:
            entry["logs"].append(str(event.get("message", "")))
    for job_id, job in (record.context.get("jobs") or {}).items():
        node = nodes.setdefault(job_id, JobNode(job_id, []))
        node.status = job.get("status", node.status)
        groups = {"": job.get("stages") or {}}
        for sid, strategy in (job.get("strategies") or {}).items():
            groups[f"[{sid}] "] = strategy.get("stages") or {}
            strategy_status.setdefault(job_id, {})[sid] = strategy.get("status", "RUNNING")
        for prefix, group in groups.items():
            for stage_id, result in group.items():
                entry = stage_entry(stages.setdefault(job_id, {}), f"{prefix}{stage_id}")
                entry["status"] = result.get("status", entry["status"])
                entry["outputs"] = result.get("outputs")
    for job_id, by_strategy in strategy_status.items():
        if nodes[job_id].strategy_total == 0:
            nodes[job_id].strategy_total = len(by_strategy)
        counts = Counter(by_strategy.values())
        if record.status not in ACTIVE_STATUSES:
            for name in list(by_strategy):
                if by_strategy[name] == "RUNNING":
                    counts["RUNNING"] -= 1
                    counts[nodes[job_id].status] += 1
        nodes[job_id].strategy_statuses = +counts
    if record.status not in ACTIVE_STATUSES:  # nothing is still running in a finished run
        for node in nodes.values():
            if node.status in ("RUNNING", "WAITING"):
                node.status = "CANCEL" if record.status is ReleaseStatus.CANCEL else "SKIP"
        for group in stages.values():
            for entry in group.values():
                if entry["status"] == "RUNNING":
                    entry["status"] = record.status.value
    return mask(
        {
            "svg": dag_svg(nodes, f"Jobs of {record.workflow}"),
            "jobs": [
                {"id": job_id, "status": nodes[job_id].status, "stages": stages.get(job_id, {})}
                for job_id in nodes
            ],
        }
    )


def install_pages(app: FastAPI, service: RunService, access: Access) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def base_context(request: Request, title: str) -> dict[str, Any]:
        return {"title": title, "path": request.url.path, "auth": access.required}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request) -> HTMLResponse:
        rows = []
        paused = service.audit.paused()
        for name in service.catalog.names():
            workflow = service.catalog.workflows.get(name)
            last = service.last_record(name)
            rows.append(
                {
                    "name": name,
                    "desc": (workflow.desc if workflow else service.catalog.raw.get(name, {}).get("desc"))
                    or "",
                    "last": last,
                    "next_tick": service.next_tick(workflow) if workflow else None,
                    "fields": form_fields(workflow),
                    "problems": service.catalog.problems.get(name, []),
                    "tags": list(workflow.tags) if workflow else [],
                    "paused": paused.get(name),
                }
            )
        return render(
            "index.html",
            **base_context(request, "Workflows"),
            rows=mask(rows),
            conf_problem=service.catalog.conf_problem,
        )

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs(
        request: Request,
        workflow: str = Query("", max_length=200),
        status: str = Query("", max_length=20),
        started_from: str = Query("", alias="from", max_length=40),
        started_to: str = Query("", alias="to", max_length=40),
        tag: str = Query("", max_length=200),
        label: str = Query("", max_length=300),
        q: str = Query("", max_length=200),
        cursor: str = Query("", max_length=500),
        limit: int = Query(25, ge=1, le=200),
    ) -> HTMLResponse:
        """The runs list: filters in the store's query, cursor pages, one card per run on a phone."""
        chosen = ReleaseStatus(status) if status in ReleaseStatus.__members__ else None
        filters = {
            "workflow": workflow,
            "status": status if chosen else "",
            "from": started_from,
            "to": started_to,
            "tag": tag,
            "label": label,
            "q": q,
        }
        problem = None
        try:
            query = run_query(
                workflow or None,
                chosen,
                day_or_time(started_from, "from"),
                day_or_time(started_to, "to", end_of_day=True),
                [tag.strip()] if tag.strip() else [],
                [label.strip()] if label.strip() else [],
                q,
            )
        except BadParams as exc:
            problem, query = str(exc), RunQuery()
        try:
            page, next_cursor = page_of_records(service.audit, query, limit, cursor or None)
        except BadParams:
            page, next_cursor = page_of_records(service.audit, query, limit, None)
        kept = urlencode({**{k: v for k, v in filters.items() if v}, "limit": limit})
        return render(
            "runs.html",
            **base_context(request, "Runs"),
            runs=[masked_record(r) for r in page],
            paused=set(service.audit.paused()),
            workflows=service.catalog.names(),
            statuses=[s.value for s in ReleaseStatus],
            filters=filters,
            problem=problem,
            limit=limit,
            next_url=f"/runs?{kept}&cursor={quote(next_cursor)}" if next_cursor else None,
            first_url=f"/runs?{kept}" if cursor else None,
        )

    def run_context(run_id: str) -> dict[str, Any]:
        record = service.record(run_id)
        return {
            "run": masked_record(record),
            "picture": run_picture(service, record),
            "cancellable": record.status in ACTIVE_STATUSES and run_id in service.active,
            "rerunnable": record.status.value in FINISHED_RERUNNABLE,
            "duration": (record.ended - record.started).total_seconds() if record.ended else None,
        }

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def run_page(request: Request, run_id: str) -> Response:
        try:
            context = await run_in_threadpool(run_context, run_id)
        except NotFound as exc:
            return render("error.html", 404, **base_context(request, "Not found"), message=str(exc))
        return render("run.html", **base_context(request, f"Run {run_id}"), **context)

    @app.get("/runs/{run_id}/fragment", response_class=HTMLResponse, include_in_schema=False)
    async def run_fragment(request: Request, run_id: str) -> Response:
        """The part of the run page that changes, for the live refresh."""
        try:
            context = await run_in_threadpool(run_context, run_id)
        except NotFound as exc:
            return render("error.html", 404, **base_context(request, "Not found"), message=str(exc))
        return render("run_body.html", **context)

    def sign_in(request: Request, given: str, target: str) -> Response:
        """A session for the right token; the form again (401) for a wrong one, 429 when throttled."""
        if not access.required:
            return RedirectResponse(target, status_code=303)
        checked = access.check(given, client_address(request.scope))
        if checked is TokenCheck.RIGHT:
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                access.sessions.open(),
                max_age=int(access.sessions.seconds),
                path="/",
                httponly=True,
                samesite="strict",
            )
            return response
        context = base_context(request, "Sign in")
        if checked is TokenCheck.THROTTLED:
            wait = access.throttle.retry_after(client_address(request.scope))
            page = render("login.html", 429, **context, next=target, failed=False, wait=wait)
            page.headers["Retry-After"] = str(wait)
            return page
        return render("login.html", 401, **context, next=target, failed=True, wait=0)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(
        request: Request,
        next: str = Query("/", max_length=500),
        token: str | None = Query(None, max_length=500),
    ) -> Response:
        """The sign-in form; with ``?token=`` (the link ``serve`` prints) it signs in at once."""
        if token is not None:
            return sign_in(request, token, safe_next(next))
        return render(
            "login.html", **base_context(request, "Sign in"), next=safe_next(next), failed=False, wait=0
        )

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        target = safe_next((form.get("next") or ["/"])[0])
        return await run_in_threadpool(sign_in, request, given, target)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        """End this browser's session on the server, not only its cookie."""
        session = session_id_of({"cookie": request.headers.get("cookie", "")})
        if session:
            access.sessions.close(session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response


def day_or_time(text: str, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date-range bound from the filter form: a date (``to`` takes in the whole day) or a
    date and time; without an offset, UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadParams(
            f"'{name}': expected a date (2024-05-01) or a date and time, got '{text[:40]}'"
        ) from None
    if end_of_day and len(text) == 10:  # a date alone: up to the end of that day
        moment += timedelta(days=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def safe_next(target: str) -> str:
    """Only a path on this server (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
