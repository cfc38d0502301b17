"""The observe pages: server-rendered jinja2 and a little vanilla JavaScript, no CDN, no build.

``/`` lists workflows with a Run form built from their params' types; ``/runs`` lists runs;
``/runs/{id}`` draws the job DAG and every stage, refreshed while the run goes (SSE).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
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
from runwright.trace import format_event, read_trace
from starlette.concurrency import run_in_threadpool

from runwright_api.audits import page_of_records, run_query
from runwright_api.dag import JobNode, dag_svg
from runwright_api.history import HISTORY_RUNS, TREND_RUNS, history_grid, next_ticks, run_columns, trend_svg
from runwright_api.security import SESSION_COOKIE, client_address, session_id_of
from runwright_api.service import BadParams, Conflict, NotFound, RunService
from runwright_api.sessions import Access, TokenCheck
from runwright_api.source_view import error_line, template_lines
from runwright_api.timeline import build_spans, timeline_svg

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
SEARCH_LIMIT = 200
SOURCE_CONTEXT_LINES = 6  # template lines shown before and after the line an error comes from

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


def strategy_order(workflow: Workflow | None, record: ReleaseRecord) -> dict[str, list[str]]:
    """Each matrix job's strategy ids in the matrix's order (not the order they finished): from
    the template's combinations, then any the record holds that those do not (data axes)."""
    from runwright.engine.runner import strategy_ids

    order: dict[str, list[str]] = {}
    if workflow is not None:
        for job_id, job in workflow.jobs.items():
            if job.strategy is not None:
                try:
                    order[job_id] = strategy_ids(job.strategy.combinations())
                except Exception:  # noqa: BLE001 - a matrix too big to list: the record's order
                    order[job_id] = []
    for job_id, job in (record.context.get("jobs") or {}).items():
        known = order.setdefault(job_id, [])
        known.extend(sid for sid in job.get("strategies") or {} if sid not in known)
    return order


def ordered_stages(stages: dict[str, dict[str, Any]], strategies: list[str]) -> dict[str, dict[str, Any]]:
    """A job's stage entries with a matrix's grouped by strategy in the matrix's order."""
    rank = {sid: index for index, sid in enumerate(strategies)}

    def key(item: tuple[int, str]) -> tuple[int, int]:
        position, name = item
        if name.startswith("["):
            sid = name[1 : name.index("]")]
            return (rank.get(sid, len(rank)), position)
        return (-1, position)

    names = sorted(enumerate(stages), key=key)
    return {name: stages[name] for _, name in names}


def log_time(moment: Any) -> str:
    try:
        return datetime.fromtimestamp(float(moment)).astimezone().strftime("%H:%M:%S.%f")[:-3]
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def run_events(service: RunService, run_id: str) -> list[dict[str, Any]]:
    path = service.trace_file(run_id)
    return list(read_trace(path)) if path.is_file() else []


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
    events = run_events(service, record.run_id)
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
            entry["logs"].append(
                {"time": log_time(event.get("time")), "stream": kind, "text": str(event.get("message", ""))}
            )
    for job_id, job in (record.context.get("jobs") or {}).items():
        node = nodes.setdefault(job_id, JobNode(job_id, []))
        node.status = job.get("status", node.status)
        groups = {"": (job.get("stages") or {}, bool(job.get("reused")))}
        for sid, strategy in (job.get("strategies") or {}).items():
            reused = bool(job.get("reused") or strategy.get("reused"))
            groups[f"[{sid}] "] = (strategy.get("stages") or {}, reused)
            strategy_status.setdefault(job_id, {})[sid] = strategy.get("status", "RUNNING")
        for prefix, (group, all_reused) in groups.items():
            for stage_id, result in group.items():
                entry = stage_entry(stages.setdefault(job_id, {}), f"{prefix}{stage_id}")
                entry["status"] = result.get("status", entry["status"])
                entry["outputs"] = result.get("outputs")
                if all_reused or result.get("reused"):  # every reused stage says so, however reused
                    entry["reused"] = True
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
    order = strategy_order(workflow, record)
    spans = build_spans(events, list(nodes), order, record.status.value)
    running = record.status is ReleaseStatus.RUNNING
    return mask(
        {
            "svg": dag_svg(nodes, f"Jobs of {record.workflow}"),
            "timeline": timeline_svg(spans, time.time() if running else None),
            "jobs": [
                {
                    "id": job_id,
                    "status": nodes[job_id].status,
                    "stages": ordered_stages(stages.get(job_id, {}), order.get(job_id, [])),
                }
                for job_id in nodes
            ],
        }
    )


def failure_view(service: RunService, record: ReleaseRecord) -> dict[str, Any] | None:
    """The lines of the template around those the run's errors come from (marked), or None;
    the whole template is on the workflow's page."""
    if not record.errors:
        return None
    source = service.catalog.sources.get(record.workflow)
    lines = template_lines(source)
    if lines is None:
        return None
    workflow = service.catalog.workflows.get(record.workflow)
    places = []
    for error in record.errors:
        line = error_line(source, workflow, error)
        if line is not None:
            places.append({"line": line, "error": error})
    marked = {place["line"] for place in places}
    near = [
        (number, text)
        for number, text in lines.lines
        if any(abs(number - line) <= SOURCE_CONTEXT_LINES for line in marked)
    ]
    return {"file": str(lines.file), "lines": near, "marked": marked, "places": places}


def rerun_fields(workflow: Workflow | None, record: ReleaseRecord) -> list[dict[str, Any]]:
    """The params form of a rerun, filled in with the run's own params; a param that held a
    secret is left empty (the server reads the secret again unless a new value is typed)."""
    fields = form_fields(workflow)
    for field in fields:
        name = field["name"]
        secret = name in record.secret_params or "***" in json.dumps(record.params.get(name, ""))
        field["secret"] = secret
        field["required"] = False  # every param is the run's unless changed
        if secret:
            field["default"] = ""
        elif name in record.params:
            value = record.params[name]
            if field["control"] == "textarea":
                field["default"] = json.dumps(value)
            elif isinstance(value, bool):
                field["default"] = "true" if value else "false"
            elif field["input_type"] == "datetime-local" and isinstance(value, str):
                field["default"] = value[:19]
            else:
                field["default"] = "" if value is None else value
        field["original"] = field["default"]
    return fields


def warm_pages(service: RunService) -> None:
    """What a page's first request would otherwise pay (read at start-up instead): the page
    templates compiled and the conf folder's workflows built."""
    for name in templates.list_templates():
        templates.get_template(name)
    service.catalog.refresh()


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
        rerunnable = record.status.value in FINISHED_RERUNNABLE
        workflow = service.catalog.workflows.get(record.workflow)
        return {
            "run": masked_record(record),
            "picture": run_picture(service, record),
            "failure": failure_view(service, record),
            "cancellable": record.status in ACTIVE_STATUSES and run_id in service.active,
            "rerunnable": rerunnable,
            "rerun_fields": mask(rerun_fields(workflow, record)) if rerunnable else [],
            "duration": (record.ended - record.started).total_seconds() if record.ended else None,
        }

    def workflow_context(name: str) -> dict[str, Any]:
        if name not in service.catalog.names():
            service.catalog.get(name)  # raises the NotFound naming the known workflows
        workflow = service.catalog.workflows.get(name)
        recent = service.audit.list(workflow=name, limit=max(HISTORY_RUNS, TREND_RUNS))
        shown = list(reversed(recent[:HISTORY_RUNS]))  # oldest left, as time goes
        return {
            "workflow_name": name,
            "desc": (workflow.desc if workflow else service.catalog.raw.get(name, {}).get("desc")) or "",
            "problems": service.catalog.problems.get(name, []),
            "columns": run_columns(shown),
            "grid": history_grid(workflow, shown),
            "trend": trend_svg(list(reversed(recent[:TREND_RUNS]))),
            "ticks": next_ticks(workflow, datetime.now(UTC)),
            "schedules": [f"{e.cronjob} ({e.timezone})" for e in workflow.on] if workflow else [],
            "source": template_lines(service.catalog.sources.get(name)),
        }

    @app.get("/workflows/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def workflow_page(request: Request, name: str) -> Response:
        """One workflow: the history grid, the duration trend, the next ticks, the template."""
        try:
            context = await run_in_threadpool(workflow_context, name)
        except (NotFound, Conflict) as exc:
            return render("error.html", 404, **base_context(request, "Not found"), message=str(exc))
        return render("workflow.html", **base_context(request, f"Workflow {name}"), **context)

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(
        request: Request,
        q: str = Query("", max_length=500),
        workflow: str = Query("", max_length=200),
        since: str = Query("", max_length=40),
        until: str = Query("", max_length=40),
    ) -> Response:
        """Log search: lines holding every word, of one workflow or all, in a date range."""
        problem, found = "", []
        if q.strip():
            try:
                found = await run_in_threadpool(
                    service.audit.search_logs,
                    q,
                    workflow or None,
                    day_start(since) if since else None,
                    day_start(until, next_day=True) if until else None,
                    SEARCH_LIMIT,
                )
            except ValueError as exc:
                problem = str(exc)
        return render(
            "search.html",
            **base_context(request, "Search logs"),
            q=q,
            chosen_workflow=workflow,
            since=since,
            until=until,
            workflows=service.catalog.names(),
            problem=problem,
            limit=SEARCH_LIMIT,
            lines=mask([{**line._asdict(), "shown": f"{line.time.astimezone():%F %T}"} for line in found]),
        )

    @app.get("/runs/{run_id}/log.txt", include_in_schema=False)
    async def download_log(run_id: str) -> Response:
        """The run's trace as readable text, to save (each line dated, secrets masked)."""
        try:
            await run_in_threadpool(service.record, run_id)
        except NotFound as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        events = await run_in_threadpool(run_events, service, run_id)
        text = "".join(
            f"{datetime.fromtimestamp(float(e.get('time', 0))).astimezone():%Y-%m-%d} "
            f"{format_event(mask(e))}\n"
            for e in events
        )
        return Response(
            mask(text),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{run_id}.log"'},
        )

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


def day_start(text: str, next_day: bool = False) -> datetime:
    """A search form's date (``2024-05-01``, local time) as an instant; ``next_day``: the end of
    that day, so a range of days includes its last day. A bad date is a ValueError."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD)") from None
    return datetime.combine(day + timedelta(days=1 if next_day else 0), datetime.min.time()).astimezone()


def safe_next(target: str) -> str:
    """Only a path on this server (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
