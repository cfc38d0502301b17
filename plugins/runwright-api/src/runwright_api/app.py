"""The FastAPI application: ``/api/v1`` routes, errors as JSON, auth, body limits, masking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Literal

import runwright
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from runwright.audit import ACTIVE_STATUSES, ReleaseRecord, ReleaseStatus, WorkflowPause
from runwright.engine.result import to_jsonable
from runwright.errors import RunwrightError
from runwright.masking import MASKER, mask
from runwright.trace import read_trace
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from runwright_api.audits import page_of_records, run_query
from runwright_api.bodies import RequestBodyGuard
from runwright_api.metrics import prometheus_text
from runwright_api.security import AllowedHosts, AuthMiddleware, SecurityHeaders, SiteGuard
from runwright_api.service import BadParams, Conflict, NotFound, RunService
from runwright_api.sessions import SESSION_SECONDS, Access

MAX_PARAMS = 200
MAX_LABELS = 20
SSE_POLL_SECONDS = 0.2
SSE_MAX_SECONDS = 600.0
"""One stream lasts at most this long (then ``end`` says RUNNING and the page opens another):
a connection left open by a tab nobody looks at is not held for a run of hours."""

ACTIVE_VALUES = frozenset(status.value for status in ACTIVE_STATUSES)


class MaskedJSONResponse(JSONResponse):
    """Every JSON answer goes through core's masker: no secret leaves the server."""

    def render(self, content: Any) -> bytes:
        return json.dumps(mask(to_jsonable(content)), default=str, separators=(",", ":")).encode()


class ErrorBody(BaseModel):
    error: str = Field(description="What went wrong, in a few words.")
    detail: Any = Field(None, description="The full message, or a list of problems.")


class TriggerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_PARAMS)
    labels: dict[str, Any] = Field(
        default_factory=dict,
        max_length=MAX_LABELS,
        description="Labels stored with the run (KEY: text), e.g. {'team': 'finance'}; filterable.",
    )
    logical_date: str | None = Field(
        None,
        max_length=64,
        description="Run for this date (ISO; without an offset, in the schedule's timezone); default now.",
    )


class RerunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(
        default_factory=dict, max_length=MAX_PARAMS, description="Over the run's own params."
    )
    from_failed: bool = Field(
        True, description="Run only what failed or was cancelled (what succeeded is reused); else all."
    )


class BackfillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(max_length=64, description="First logical date (ISO).")
    end: str = Field(
        max_length=64, description="Last logical date (ISO), inclusive; a date alone: the whole day."
    )
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_PARAMS)
    force: bool = False
    only_failed: bool = False
    dry_run: bool = False


class BackfillAnswer(BaseModel):
    workflow: str
    dry_run: bool
    ticks: list[dict[str, Any]] = Field(
        description="Each tick: logical_date, action, reason, params (run_id once claimed)."
    )


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    logical_date: datetime = Field(description="The logical date to release (ISO 8601, with a zone).")
    mode: Literal["normal", "force", "dryrun"] = "normal"
    params: dict[str, Any] = Field(default_factory=dict, max_length=MAX_PARAMS)


class ParamView(BaseModel):
    name: str
    type: str
    required: bool
    default: Any = None
    desc: str | None = None
    options: list[Any] | None = None


class ScheduleView(BaseModel):
    cronjob: str
    timezone: str


class PauseView(BaseModel):
    by: str = Field(description="Who paused it.")
    since: datetime


class WorkflowSummary(BaseModel):
    name: str
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    paused: PauseView | None = Field(None, description="Set while the workflow is paused.")
    params: list[ParamView] = Field(default_factory=list)
    schedules: list[ScheduleView] = Field(default_factory=list)
    next_tick: datetime | None = None
    last_status: str | None = None
    last_run_id: str | None = None
    problems: list[str] = Field(default_factory=list)


class WorkflowDetail(WorkflowSummary):
    template: dict[str, Any] = Field(default_factory=dict)


class RunView(BaseModel):
    run_id: str
    workflow: str
    status: str
    release: datetime
    attempt: int
    type: str
    parent_run_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    started: datetime
    ended: datetime | None = None
    duration_seconds: float | None = None
    started_by: str = Field(
        "manual",
        description="How it started: schedule, backfill, rerun, or the door of a manual run (cli, api).",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, description="The workflow's tags when it was released.")
    workflow_paused: bool = Field(False, description="Its workflow is paused now.")


class PauseAnswer(BaseModel):
    workflow: str
    paused: bool = Field(description="Whether the workflow is paused now.")
    changed: bool = Field(description="False when it already was as asked.")
    by: str | None = None
    since: datetime | None = None


class RunAccepted(BaseModel):
    run_id: str
    workflow: str
    status: str
    url: str


class AuditPage(BaseModel):
    items: list[RunView]
    next_cursor: str | None = None


class ReleaseAnswer(BaseModel):
    workflow: str
    ran: bool
    status: str
    run_id: str | None = None
    reason: str | None = None
    checks: list[dict[str, Any]] | None = None


class LogLineView(BaseModel):
    run_id: str
    workflow: str
    time: datetime
    event: str
    message: str
    job: str | None = None
    strategy: str | None = None
    stage: str | None = None


class Health(BaseModel):
    status: str = Field(description="'ok', 'stopping', or 'broken' (then HTTP 503)")
    version: str
    detail: str | None = Field(None, description="why the server cannot run workflows, when broken")


def run_view(record: ReleaseRecord, paused: Iterable[str] = ()) -> RunView:
    duration = (record.ended - record.started).total_seconds() if record.ended else None
    return RunView(
        started_by=record.how_started,
        labels=record.labels,
        tags=record.tags,
        workflow_paused=record.workflow in paused,
        run_id=record.run_id,
        workflow=record.workflow,
        status=record.status.value,
        release=record.release,
        attempt=record.attempt,
        type=record.type.value,
        parent_run_id=record.parent_run_id,
        params=record.params,
        context=record.context,
        errors=record.errors,
        started=record.started,
        ended=record.ended,
        duration_seconds=duration,
    )


def workflow_summary(
    service: RunService, name: str, paused: Mapping[str, WorkflowPause] | None = None
) -> WorkflowSummary:
    workflow = service.catalog.workflows.get(name)
    last = service.last_record(name)
    pause = (service.audit.paused() if paused is None else paused).get(name)
    summary = WorkflowSummary(
        name=name,
        paused=PauseView(by=pause.by, since=pause.paused_at) if pause else None,
        problems=service.catalog.problems.get(name, []),
        last_status=last.status.value if last else None,
        last_run_id=last.run_id if last else None,
    )
    if workflow is None:
        summary.description = service.catalog.raw.get(name, {}).get("desc")
        return summary
    summary.description = workflow.desc
    summary.tags = list(workflow.tags)
    summary.params = [
        ParamView(
            name=key,
            type=spec.type,
            required=spec.is_required(),
            default=spec.default,
            desc=spec.desc,
            options=getattr(spec, "options", None),
        )
        for key, spec in workflow.params.items()
    ]
    summary.schedules = [ScheduleView(cronjob=e.cronjob, timezone=e.timezone) for e in workflow.on]
    summary.next_tick = service.next_tick(workflow)
    return summary


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


def api_router(service: RunService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, default_response_class=MaskedJSONResponse)

    @router.get(
        "/healthz",
        response_model=Health,
        tags=["server"],
        responses={503: {"model": Health, "description": "The server can no longer run workflows."}},
    )
    def healthz() -> Health | JSONResponse:
        """Liveness: answers without a token; 503 when no worker process can run workflows, so a
        supervisor restarts the server instead of sending it runs it can only refuse."""
        problem = service.workers.problem if service.workers is not None else ""
        if problem:
            broken = Health(status="broken", version=runwright.__version__, detail=problem)
            return JSONResponse(broken.model_dump(), status_code=503)
        return Health(status="stopping" if service.stopping.is_set() else "ok", version=runwright.__version__)

    @router.get("/metrics", response_class=PlainTextResponse, tags=["server"])
    def metrics() -> PlainTextResponse:
        """Prometheus text format: runs by status, run durations, active runs, scheduler lag."""
        return PlainTextResponse(prometheus_text(service), media_type="text/plain; version=0.0.4")

    @router.get("/workflows", response_model=list[WorkflowSummary], tags=["workflows"])
    def list_workflows() -> list[WorkflowSummary]:
        """Every workflow in the conf path with its params, schedules, next tick and last status."""
        paused = service.audit.paused()
        return [workflow_summary(service, name, paused) for name in service.catalog.names()]

    @router.get("/workflows/{name}", response_model=WorkflowDetail, tags=["workflows"])
    def get_workflow(name: str) -> WorkflowDetail:
        """One workflow: its template as JSON and its validation problems."""
        if name not in service.catalog.names():
            service.catalog.get(name)  # raises the NotFound naming the known workflows
        summary = workflow_summary(service, name)
        return WorkflowDetail(**summary.model_dump(), template=to_jsonable(service.catalog.raw.get(name, {})))

    @router.post("/workflows/{name}/runs", status_code=202, response_model=RunAccepted, tags=["runs"])
    def trigger(name: str, body: TriggerBody | None = None) -> RunAccepted:
        """Check params (422 with the CLI's message), start the run in the background, answer at once."""
        given = body or TriggerBody()
        record = service.trigger(name, given.params, given.logical_date, given.labels)
        return RunAccepted(
            run_id=record.run_id,
            workflow=name,
            status=record.status.value,
            url=f"/api/v1/runs/{record.run_id}",
        )

    @router.post(
        "/workflows/{name}/releases",
        response_model=ReleaseAnswer,
        tags=["runs"],
        responses={202: {"model": ReleaseAnswer, "description": "The release was claimed and is running."}},
    )
    def release_date(name: str, body: ReleaseBody, response: Response) -> ReleaseAnswer:
        """Release one logical date: ``normal`` (once), ``force`` (new attempt) or ``dryrun``."""
        logical_date = body.logical_date
        if logical_date.tzinfo is None:
            from datetime import UTC

            logical_date = logical_date.replace(tzinfo=UTC)
        answer = service.release(name, logical_date, body.params, body.mode)
        if answer.get("ran"):
            response.status_code = 202
        return ReleaseAnswer(**answer)

    @router.post(
        "/workflows/{name}/backfill",
        response_model=BackfillAnswer,
        tags=["runs"],
        responses={202: {"model": BackfillAnswer, "description": "The ticks claimed, running in turn."}},
    )
    def backfill(name: str, body: BackfillBody, response: Response) -> BackfillAnswer:
        """Backfill a workflow or Schedule: 202 with the ticks claimed (run oldest first, one
        at a time); ``dry_run``: 200 with each tick's params and what would happen."""
        answer = service.backfill(
            name,
            body.start,
            body.end,
            body.params,
            force=body.force,
            only_failed=body.only_failed,
            dry_run=body.dry_run,
        )
        if not body.dry_run:
            response.status_code = 202
        return BackfillAnswer(**answer)

    @router.post("/workflows/{name}/pause", response_model=PauseAnswer, tags=["workflows"])
    def pause(name: str) -> PauseAnswer:
        """Pause the workflow's schedule: no scheduler sharing the audit store releases its ticks
        from its next tick on (runs started by hand still run)."""
        return set_paused(service, name, True)

    @router.post("/workflows/{name}/unpause", response_model=PauseAnswer, tags=["workflows"])
    def unpause(name: str) -> PauseAnswer:
        """Unpause: ticks are released again; the ones missed follow the catch-up rule."""
        return set_paused(service, name, False)

    @router.get("/audits", response_model=AuditPage, tags=["runs"])
    def audits(
        workflow: str | None = Query(None, max_length=200),
        status: ReleaseStatus | None = None,
        since: datetime | None = Query(None, description="Only runs started at or after this time."),
        until: datetime | None = Query(None, description="Only runs started before this time."),
        tag: list[str] = Query(
            [], max_length=10, description="Only runs whose workflow had this tag (each given)."
        ),
        label: list[str] = Query(
            [], max_length=10, description="Only runs with this KEY=VALUE label (each given)."
        ),
        q: str | None = Query(None, max_length=200, description="Text in the run id, params or errors."),
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, max_length=500, description="next_cursor of the previous page."),
    ) -> AuditPage:
        """Page through the audit store, newest first, filtered in the store; follow
        ``next_cursor`` for more (pages stay put while new runs start)."""
        query = run_query(workflow, status, since, until, tag, label, q)
        page, next_cursor = page_of_records(service.audit, query, limit, cursor)
        paused = service.audit.paused()
        return AuditPage(items=[run_view(r, paused) for r in page], next_cursor=next_cursor)

    @router.get("/logs/search", response_model=list[LogLineView], tags=["runs"])
    def search_logs(
        q: str = Query(min_length=1, max_length=500, description="Words every line must hold (any case)."),
        workflow: str | None = Query(None, max_length=200),
        since: datetime | None = Query(None, description="Lines at or after this time."),
        until: datetime | None = Query(None, description="Lines before this time."),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[LogLineView]:
        """Full-text search over finished runs' trace lines, newest first (the audit store's
        index: FTS5 on SQLite, tsvector on PostgreSQL, a bounded scan on the file store)."""
        from datetime import UTC

        since = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
        until = until.replace(tzinfo=UTC) if until is not None and until.tzinfo is None else until
        try:
            found = service.audit.search_logs(q, workflow=workflow, since=since, until=until, limit=limit)
        except ValueError as exc:
            raise BadParams(f"q: {exc}") from None
        return [LogLineView(**line._asdict()) for line in found]

    @router.get("/runs/{run_id}", response_model=RunView, tags=["runs"])
    def get_run(run_id: str) -> RunView:
        """A run's status, context, errors and timings (from the audit store)."""
        return run_view(service.record(run_id))

    @router.post("/runs/{run_id}/cancel", status_code=202, response_model=RunView, tags=["runs"])
    def cancel_run(run_id: str) -> RunView:
        """Ask a running run to stop; its record ends CANCEL. 409 when it is not running here."""
        return run_view(service.cancel(run_id))

    @router.post("/runs/{run_id}/rerun", status_code=202, response_model=RunAccepted, tags=["runs"])
    def rerun(run_id: str, body: RerunBody | None = None) -> RunAccepted:
        """Run the run's logical date again as a new attempt: what failed or was cancelled
        (``from_failed``, what succeeded is reused) or everything; ``params`` over its own."""
        given = body or RerunBody()
        record = service.rerun(run_id, given.params, given.from_failed)
        return RunAccepted(
            run_id=record.run_id,
            workflow=record.workflow,
            status=record.status.value,
            url=f"/api/v1/runs/{record.run_id}",
        )

    @router.get(
        "/runs/{run_id}/logs",
        tags=["runs"],
        response_class=Response,
        responses={
            200: {
                "description": "JSON lines; Server-Sent Events while the run is going",
                "content": {"application/x-ndjson": {}, "text/event-stream": {}},
            }
        },
    )
    async def run_logs(
        run_id: str,
        request: Request,
        follow: bool = Query(True, description="Stream (SSE) while the run is going."),
    ) -> Response:
        """The run's trace events: JSON lines, or an SSE stream that ends when the run ends."""
        record = await run_in_threadpool(service.record, run_id)
        path = service.trace_file(run_id)
        if follow and record.status in ACTIVE_STATUSES:
            return StreamingResponse(
                sse_events(service, run_id, request),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        if not path.is_file():
            return Response(b"", media_type="application/x-ndjson")
        lines = await run_in_threadpool(lambda: [json.dumps(mask(r), default=str) for r in read_trace(path)])
        return Response("".join(line + "\n" for line in lines), media_type="application/x-ndjson")

    return router


def set_paused(service: RunService, name: str, paused: bool) -> PauseAnswer:
    """Pause or unpause ``name`` in the audit store (404 for a workflow the conf path lacks)."""
    from runwright.audit import utc_now

    if name not in service.catalog.names():
        service.catalog.get(name)  # raises the NotFound naming the known workflows
    changed = service.audit.pause(name, "api", utc_now()) if paused else service.audit.unpause(name)
    pause = service.audit.paused().get(name)
    return PauseAnswer(
        workflow=name,
        paused=pause is not None,
        changed=changed,
        by=pause.by if pause else None,
        since=pause.paused_at if pause else None,
    )


def read_new_lines(path: Any, offset: int) -> tuple[list[str], int]:
    """Complete lines appended to ``path`` since ``offset``, and the new offset."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    chunk = data[: end + 1]
    return [line for line in chunk.decode("utf-8").splitlines() if line.strip()], offset + len(chunk)


async def sse_events(service: RunService, run_id: str, request: Request) -> AsyncIterator[str]:
    """Tail the run's trace file as SSE ``event: log`` until its record leaves RUNNING, or for
    :data:`SSE_MAX_SECONDS` at most."""
    path = service.trace_file(run_id)
    offset = 0
    status = ReleaseStatus.RUNNING.value
    loops = 0
    deadline = asyncio.get_running_loop().time() + SSE_MAX_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        lines, offset = await run_in_threadpool(read_new_lines, path, offset)
        for line in lines:
            yield f"event: log\ndata: {json.dumps(mask(json.loads(line)), default=str)}\n\n"
        if loops % 3 == 0:
            record = await run_in_threadpool(service.audit.get, run_id)
            status = record.status.value if record else "UNKNOWN"
            if status not in ACTIVE_VALUES:
                lines, offset = await run_in_threadpool(read_new_lines, path, offset)
                for line in lines:
                    yield f"event: log\ndata: {json.dumps(mask(json.loads(line)), default=str)}\n\n"
                break
        if service.stopping.is_set() or await request.is_disconnected():
            break
        loops += 1
        await asyncio.sleep(SSE_POLL_SECONDS)
    yield f"event: end\ndata: {json.dumps({'run_id': run_id, 'status': status})}\n\n"


def error_response(status: int, error: str, detail: Any) -> MaskedJSONResponse:
    return MaskedJSONResponse({"error": error, "detail": detail}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Every error is ``{"error", "detail"}`` JSON; never a traceback."""

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error_response(404, "not found", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(BadParams)
    async def bad_params(request: Request, exc: BadParams) -> Response:
        return error_response(422, "invalid params", str(exc))

    @app.exception_handler(RunwrightError)
    async def runwright_error(request: Request, exc: RunwrightError) -> Response:
        return error_response(422, "invalid request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return error_response(422, "invalid request", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        from http import HTTPStatus

        phrase = (
            HTTPStatus(exc.status_code).phrase.lower()
            if exc.status_code in HTTPStatus._value2member_map_
            else "error"
        )
        return error_response(exc.status_code, phrase, exc.detail)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal error", f"{type(exc).__name__}: {exc}")


def create_app(
    service: RunService,
    *,
    token: str | None = None,
    scheduler: bool = False,
    bind_host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    session_seconds: float = SESSION_SECONDS,
) -> FastAPI:
    """The whole server: API, pages, static files.

    ``token`` turns on bearer/session auth (at least 16 characters). ``Host`` must name
    ``bind_host`` or one of ``allowed_hosts``, and state-changing requests must not come from
    another site, with or without a token.
    """
    from runwright_api.pages import install_pages, warm_pages

    access = Access(token, session_seconds)
    if token:
        MASKER.keep(token)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scheduler:
            service.start_scheduler()
        await run_in_threadpool(warm_pages, service)
        yield
        await run_in_threadpool(service.shutdown)

    app = FastAPI(
        title="runwright",
        version=runwright.__version__,
        description="Trigger, watch, cancel and rerun runwright workflows.",
        lifespan=lifespan,
        default_response_class=MaskedJSONResponse,
    )
    app.state.service = service
    app.include_router(api_router(service))
    install_pages(app, service, access)
    install_error_handlers(app)
    # the last added runs first: headers on every answer, then Host/Origin, then auth, then bodies
    app.add_middleware(RequestBodyGuard)
    app.add_middleware(AuthMiddleware, access=access)
    app.add_middleware(SiteGuard, hosts=AllowedHosts(bind_host, allowed_hosts))
    app.add_middleware(SecurityHeaders)
    return app
