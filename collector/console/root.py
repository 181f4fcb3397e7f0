"""The console: the HTTP API (FastAPI) and the web UI over the flows in ClickHouse.

Built from its dependencies (configuration, Stats, a factory of ClickHouse executors,
the saved-views store, a clock) so that tests point it at the 18.16 server or at chdb.
`Console.app` is the ASGI application; `Console.serve()` runs it with uvicorn.

Routes (all under /api/v0/console/, the OpenAPI document at
/api/v0/console/openapi.json and its browsable form at /api/v0/console/docs):
metrics and healthcheck (no credentials, like every daemon), user, dimensions,
graph/line, graph/sankey, filter/validate, filter/complete, saved/views,
saved/filters, widgets/flow-rate, widgets/top/{what}, widgets/graph, exporters.
Outside the API: `/` and the UI's pages, `/v/<id>` (a saved view's short link).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.config.root import Config
from collector.console import metrics as m
from collector.console import models as api
from collector.console.asnames import ASNames
from collector.console.auth import Authenticator, AuthError, Identity
from collector.console.dimensions import DIMENSIONS, FILTER_COLUMNS, reverse_name
from collector.console.filter import (
    OPERATORS,
    FilterError,
    completion_context,
    parse_filter,
)
from collector.console.outlets import read_outlets
from collector.console.query import ROLLUP_COLUMNS, QueryBuilder, Resolution, Tables
from collector.console.runner import QueryError, QueryRunner
from collector.console.store import StateStore
from collector.metrics.aggregate import Aggregator, make_registry
from collector.metrics.stats import Stats
from collector.schema.ddl import sql_string
from collector.schema.dialect import Dialect, parse_version
from collector.schema.executor import DriverExecutor, Executor

log = logging.getLogger(__name__)

PREFIX = "/api/v0/console"
STATIC = Path(__file__).parent / "static"
PAGES = ("visualize", "exporters", "views")
NOT_BUILT = """<!doctype html><title>flowweir console</title>
<p>The web UI is not built in this installation: run <code>make console-ui</code> in the
source tree (or install a wheel built after it). The API works: <a href="{p}/docs">{p}/docs</a>.
"""


async def _identify(request: Request) -> Identity:
    """On the event loop when no password is to be hashed (every request but a user's first),
    else in a worker thread (scrypt takes ~50 ms): a sync dependency would cost every request
    a hop to the thread pool and back before the endpoint's own."""
    console: Console = request.app.state.console
    if console.auth.is_quick(dict(request.headers)):
        return console.identify(request)
    return await run_in_threadpool(console.identify, request)


User = Annotated[Identity, Depends(_identify)]


def json_answer(model: BaseModel) -> Response:
    """`model` as JSON by pydantic's own serializer. Returning the model would have FastAPI
    validate it again against the response model and serialize it in Python: milliseconds
    for a graph's thousands of numbers. The route keeps `response_model` for the OpenAPI."""
    return Response(model.model_dump_json(), media_type="application/json")


class CountRequests:
    """`flowweir_console_http_requests_total` by route and status class. A plain ASGI
    middleware: `@app.middleware("http")` would pass every answer through a task and a stream."""

    def __init__(self, app: ASGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "other")
            self.stats.inc(m.REQUESTS, (path, f"{status // 100}xx"))


class Assets(StaticFiles):
    """The built UI files. Their names carry a hash of their content (Vite), so a browser may
    keep them for good and not ask again on every page opened (a round trip before the
    page's script may even start)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def tables_from(config: Config) -> Tables:
    o = config.orchestrator
    return Tables(
        database=config.clickhouse.database,
        flows_retention=o.retention,
        rollups=tuple(Resolution(r.interval, r.retention) for r in o.resolutions),
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[rank]


def series_stats(values: list[float], interval: int) -> api.SeriesStats:
    if not values:
        return api.SeriesStats(min=0, max=0, avg=0, p95=0, total=0)
    return api.SeriesStats(
        min=min(values),
        max=max(values),
        avg=sum(values) / len(values),
        p95=percentile(values, 0.95),
        total=sum(values) * interval,
    )


class Console:
    def __init__(
        self,
        config: Config,
        stats: Stats,
        executor_factory: Callable[[], Executor] | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
        dialect: Dialect | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        self.runner = QueryRunner(executor_factory or self._driver, stats)
        self.store = store or StateStore(config.console.state_file)
        self.auth = Authenticator(config.console.auth)
        self.tables = tables_from(config)
        self._dialect = dialect
        self.as_names = ASNames(config.outlet.geoip.asn_database)
        self.as_names.start()
        self.aggregator = Aggregator(m.METRICS)
        self.aggregator.attach("console", stats)
        self.registry = make_registry(self.aggregator)
        self.app = self._build_app()

    def _driver(self) -> Executor:
        ch, c = self.config.clickhouse, self.config.console
        return DriverExecutor(
            ch.servers[0],
            c.clickhouse_username,
            c.clickhouse_password.get_secret_value(),
            ch.timeout,
        )

    @property
    def dialect(self) -> Dialect:
        if self._dialect is None:
            self._dialect = parse_version(str(self.runner.query("SELECT version()")[0][0]))
            log.info("ClickHouse dialect: %s", self._dialect)
        return self._dialect

    @property
    def builder(self) -> QueryBuilder:
        return QueryBuilder(self.tables, self.dialect)

    def now(self) -> int:
        return int(self.clock())

    def health(self) -> tuple[bool, dict[str, Any]]:
        try:
            self.runner.query("SELECT 1")
        except QueryError as exc:
            return False, {"clickhouse": exc.message}
        return True, {"clickhouse": "ok"}

    # -- the answers, independent of HTTP -------------------------------------------------

    def line_graph(self, req: api.GraphRequest) -> api.LineGraph:
        plan = self.builder.line(req, self.now())
        npoints = (plan.end - plan.start) // plan.interval
        times = [plan.start + i * plan.interval for i in range(npoints)]

        def run(statement: Any, shift: int = 0, reverse: bool = False) -> list[api.Series]:
            rows = self.runner.query(statement.sql, plan.table.name)
            index = {t: i for i, t in enumerate(times)}
            names = [reverse_name(d) if reverse else d for d in req.dimensions]
            by_key: dict[tuple[str, ...], list[float]] = {}
            labelled: dict[tuple[Any, ...], tuple[str, ...]] = {}  # a series has many rows
            used = names[: statement.dimensions]
            for row in rows:
                raw = row[1 : 1 + statement.dimensions]
                key = labelled.get(raw)
                if key is None:
                    key = tuple(self.as_names.labels(used, [str(v) for v in raw]))
                    labelled[raw] = key
                values = by_key.setdefault(key, [0.0] * npoints)
                i = index.get(int(row[0]) + shift)
                if i is not None:
                    values[i] += float(row[-1])
            ordered = sorted(by_key.items(), key=lambda kv: ("Other" in kv[0], -sum(kv[1]), kv[0]))
            return [
                api.Series(dimensions=list(k), values=v, stats=series_stats(v, plan.interval))
                for k, v in ordered
            ]

        sql = [plan.main.sql]
        series = run(plan.main)
        reverse = None
        if plan.reverse is not None:
            sql.append(plan.reverse.sql)
            reverse = run(plan.reverse, reverse=True)
        previous = None
        if plan.previous is not None:
            sql.append(plan.previous.sql)
            found = run(plan.previous, plan.previous_shift)
            previous = (
                found[0]
                if found
                else api.Series(
                    dimensions=[], values=[0.0] * npoints, stats=series_stats([], plan.interval)
                )
            )
            previous.dimensions = [f"total, {req.previous_period} before"]
        return api.LineGraph(
            unit=req.unit,
            interval=plan.interval,
            table=plan.table,
            time=[dt.datetime.fromtimestamp(t, dt.UTC) for t in times],
            series=series,
            reverse=reverse,
            previous=previous,
            sql=sql,
        )

    def sankey_graph(self, req: api.SankeyRequest) -> api.SankeyGraph:
        table, statement = self.builder.sankey(req, self.now())
        rows = self.runner.query(statement.sql, table.name)
        nodes: list[str] = []
        links: dict[tuple[str, str], float] = {}
        out_rows = []
        for row in rows:
            values = self.as_names.labels(
                req.dimensions, [str(v) for v in row[: statement.dimensions]]
            )
            rate = float(row[-1])
            named = [f"{d}: {v}" for d, v in zip(req.dimensions, values, strict=True)]
            for n in named:
                if n not in nodes:
                    nodes.append(n)
            for a, b in zip(named, named[1:], strict=False):
                links[(a, b)] = links.get((a, b), 0.0) + rate
            out_rows.append(
                api.Series(dimensions=values, values=[rate], stats=series_stats([rate], 1))
            )
        return api.SankeyGraph(
            unit=req.unit,
            table=table,
            nodes=nodes,
            links=[api.SankeyLink(source=a, target=b, value=v) for (a, b), v in links.items()],
            rows=out_rows,
            sql=[statement.sql],
        )

    def complete(self, text: str, cursor: int) -> api.Completions:
        ctx = completion_context(text, min(cursor, len(text)))
        prefix = ctx.prefix.lstrip("\"'").lower()
        out: list[api.Completion] = []
        if ctx.kind == "column":
            out = [
                api.Completion(label=c.name, kind="column", detail=c.kind)
                for c in FILTER_COLUMNS.values()
                if c.name.lower().startswith(prefix)
            ]
            if "not".startswith(prefix):
                out.append(api.Completion(label="NOT", kind="keyword"))
        elif ctx.kind == "operator":
            out = [
                api.Completion(label=o, kind="operator")
                for o in OPERATORS
                if o.lower().startswith(prefix)
            ]
        elif ctx.kind == "keyword":
            out = [
                api.Completion(label=k, kind="keyword")
                for k in ("AND", "OR", "AND NOT")
                if k.lower().startswith(prefix)
            ]
        else:
            col = FILTER_COLUMNS[ctx.column.lower()]
            if col.kind == "string":
                out = [
                    api.Completion(label=f'"{v}"', kind="value", detail=col.name)
                    for v in self.string_values(col.name, prefix)
                ]
            else:
                out = [
                    api.Completion(label=v, kind="value", detail=col.name)
                    for v in col.values()
                    if v.startswith(prefix)
                ]
        return api.Completions(start=ctx.start, end=cursor, completions=out[:50])

    def string_values(self, column: str, prefix: str, limit: int = 20) -> list[str]:
        """Values of a string column seen over the last week, most frequent first."""
        now = self.now()
        choice = self.builder.tables
        table = "flows"
        if column in ROLLUP_COLUMNS and choice.rollups:
            table = f"flows_{_go(max(r.interval for r in choice.rollups))}"
        sql = (
            f"SELECT toString(`{column}`) AS v FROM {choice.database}.{table} "
            f"WHERE TimeReceived >= toDateTime({now - 7 * 86400}) AND v != '' "
            f"AND positionCaseInsensitive(v, {sql_string(prefix)}) > 0 "
            f"GROUP BY v ORDER BY count() DESC, v LIMIT {limit}"
        )
        return [str(r[0]) for r in self.runner.query(sql, table)]

    def flow_rate(self) -> api.FlowRateWidget:
        sql = self.builder.flow_rate(self.now())
        rate, exporters, last = self.runner.query(sql, "flows")[0]
        sql_last = self.builder.last_flow()
        (last_any,) = self.runner.query(sql_last, "flows")[0]
        when = int(last or last_any or 0)
        return api.FlowRateWidget(
            flows_per_second=float(rate),
            exporters=int(exporters),
            last_flow=dt.datetime.fromtimestamp(when, dt.UTC) if when else None,
            sql=sql,
        )

    def top_widget(self, what: str) -> api.TopWidget:
        sql, total_sql = self.builder.top(what, self.now())
        rows = self.runner.query(sql)
        total = float(self.runner.query(total_sql)[0][0] or 0)
        return api.TopWidget(
            what=what,
            top=[
                api.TopItem(
                    name=self.as_names.labels([what], [str(r[0])])[0],
                    percent=100 * float(r[1]) / total if total else 0,
                )
                for r in rows
            ],
            sql=sql,
        )

    def exporters(self) -> api.Exporters:
        interfaces_sql, flows_sql, traffic_sql = self.builder.exporters(self.now())
        traffic = {
            (str(r[0]), int(r[1])): (float(r[2]), float(r[3]))
            for r in self.runner.query(traffic_sql)
        }
        flows = {str(r[0]): r for r in self.runner.query(flows_sql, "flows")}
        c = self.config
        outlets = read_outlets(c.console.outlet_endpoints or [c.outlet.http.listen])
        if outlets.problems:
            self.stats.inc(m.OUTLET_ERRORS, (), len(outlets.problems))
        exporters: dict[str, api.ExporterSummary] = {}
        for r in self.runner.query(interfaces_sql, "exporters"):
            address = str(r[0]).removeprefix("::ffff:")
            exp = exporters.get(str(r[0]))
            if exp is None:
                f = flows.get(str(r[0]))
                exp = api.ExporterSummary(
                    address=address,
                    name=str(r[1]),
                    group=str(r[2]),
                    role=str(r[3]),
                    site=str(r[4]),
                    region=str(r[5]),
                    tenant=str(r[6]),
                    sampling_rates=sorted(int(x) for x in (f[2] if f else [])),
                    flows_per_second=float(f[1]) if f else 0.0,
                    last_flow=dt.datetime.fromtimestamp(int(f[3]), dt.UTC) if f else None,
                    interfaces=[],
                )
                decoding = outlets.exporters.get(address)
                if decoding is not None:
                    exp.templates = decoding.templates
                    exp.versions = sorted(decoding.versions)
                    exp.decoder_errors = decoding.errors
                exporters[str(r[0])] = exp
            in_bps, out_bps = traffic.get((str(r[0]), int(r[7])), (0.0, 0.0))
            exp.interfaces.append(
                api.InterfaceSummary(
                    index=int(r[7]),
                    name=str(r[8]),
                    description=str(r[9]),
                    speed=int(r[10]),
                    boundary={1: "external", 2: "internal"}.get(int(r[11]), "undefined"),
                    provider=str(r[12]),
                    connectivity=str(r[13]),
                    in_bps=in_bps,
                    out_bps=out_bps,
                )
            )
        return api.Exporters(
            exporters=sorted(exporters.values(), key=lambda e: (e.name, e.address)),
            outlet_problems=outlets.problems,
            sql=[interfaces_sql, flows_sql, traffic_sql],
        )

    # -- HTTP ---------------------------------------------------------------------------

    def identify(self, request: Request) -> Identity:
        headers = {k.lower(): v for k, v in request.headers.items()}
        peer = request.client.host if request.client else ""
        try:
            return self.auth.identify(headers, peer)
        except AuthError as exc:
            self.stats.inc(m.AUTH_REFUSED, (self.config.console.auth.mode,))
            extra = {"WWW-Authenticate": 'Basic realm="flowweir"'} if exc.status == 401 else None
            raise HTTPException(exc.status, {"message": exc.message}, headers=extra) from None

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title="flowweir console",
            version="0",
            description="Explore the flows flowweir stored in ClickHouse. Every graph answer "
            "carries the SQL it ran.",
            openapi_url=f"{PREFIX}/openapi.json",
            docs_url=f"{PREFIX}/docs",
            redoc_url=None,
        )
        console = self
        app.state.console = self

        app.add_middleware(CountRequests, stats=console.stats)

        @app.exception_handler(FilterError)
        async def filter_error(request: Request, exc: FilterError) -> JSONResponse:
            console.stats.inc(m.FILTER_ERRORS)
            return JSONResponse(
                status_code=422,
                content={
                    "detail": {
                        "kind": "filter",
                        "message": exc.message,
                        "offset": exc.offset,
                        "line": exc.line,
                        "column": exc.column,
                    }
                },
            )

        @app.exception_handler(QueryError)
        async def query_error(request: Request, exc: QueryError) -> JSONResponse:
            status = {"limit": 422, "unreachable": 503}.get(exc.kind, 502)
            return JSONResponse(
                status_code=status, content={"detail": {"kind": exc.kind, "message": exc.message}}
            )

        @app.get(f"{PREFIX}/metrics", include_in_schema=False)
        def metrics() -> Response:
            return Response(generate_latest(console.registry), media_type=CONTENT_TYPE_LATEST)

        @app.get(f"{PREFIX}/healthcheck", tags=["operations"])
        def healthcheck() -> JSONResponse:
            ok, details = console.health()
            return JSONResponse(
                {"service": "console", "ok": ok, **details}, status_code=200 if ok else 503
            )

        # Endpoints that neither query nor block are `async`: no hop to the thread pool.
        @app.get(f"{PREFIX}/user", tags=["session"])
        async def user(who: User) -> api.User:
            return api.User(name=who.name, email=who.email)

        @app.get(f"{PREFIX}/dimensions", tags=["graphs"])
        async def dimensions(who: User) -> list[api.DimensionInfo]:
            return [
                api.DimensionInfo(name=d.name, in_rollups=d.columns <= ROLLUP_COLUMNS, doc=d.doc)
                for d in DIMENSIONS.values()
            ]

        @app.post(f"{PREFIX}/graph/line", tags=["graphs"], response_model=api.LineGraph)
        def graph_line(req: api.GraphRequest, who: User) -> Response:
            return json_answer(console.line_graph(req))

        @app.post(f"{PREFIX}/graph/sankey", tags=["graphs"], response_model=api.SankeyGraph)
        def graph_sankey(req: api.SankeyRequest, who: User) -> Response:
            return json_answer(console.sankey_graph(req))

        @app.post(f"{PREFIX}/filter/validate", tags=["filter"])
        def filter_validate(req: api.FilterRequest, who: User) -> api.FilterValidation:
            try:
                flt = parse_filter(req.filter)
            except FilterError as exc:
                console.stats.inc(m.FILTER_ERRORS)
                return api.FilterValidation(
                    valid=False,
                    message=exc.message,
                    offset=exc.offset,
                    line=exc.line,
                    column=exc.column,
                )
            return api.FilterValidation(valid=True, sql=flt.sql)

        @app.post(f"{PREFIX}/filter/complete", tags=["filter"])
        def filter_complete(req: api.CompleteRequest, who: User) -> api.Completions:
            return console.complete(req.filter, req.cursor)

        @app.get(f"{PREFIX}/saved/views", tags=["saved"])
        def views(who: User) -> list[api.SavedView]:
            return console.store.views(who.name)

        @app.post(f"{PREFIX}/saved/views", tags=["saved"])
        def add_view(req: api.SavedViewIn, who: User) -> api.SavedView:
            return console.store.add_view(who.name, req.name, req.state)

        @app.get(f"{PREFIX}/saved/views/{{view_id}}", tags=["saved"])
        def one_view(view_id: str, who: User) -> api.SavedView:
            view = console.store.view(view_id)
            if view is None:
                raise HTTPException(404, {"message": f"no saved view {view_id!r}"})
            return view

        @app.delete(f"{PREFIX}/saved/views/{{view_id}}", tags=["saved"])
        def delete_view(view_id: str, who: User) -> dict[str, bool]:
            if not console.store.delete_view(who.name, view_id):
                raise HTTPException(404, {"message": f"no saved view {view_id!r} of yours"})
            return {"deleted": True}

        @app.get(f"{PREFIX}/saved/filters", tags=["saved"])
        def filters(who: User) -> list[api.SavedFilter]:
            return console.store.filters(who.name)

        @app.post(f"{PREFIX}/saved/filters", tags=["saved"])
        def add_filter(req: api.SavedFilterIn, who: User) -> api.SavedFilter:
            parse_filter(req.filter)
            return console.store.add_filter(who.name, req.name, req.filter)

        @app.delete(f"{PREFIX}/saved/filters/{{filter_id}}", tags=["saved"])
        def delete_filter(filter_id: str, who: User) -> dict[str, bool]:
            if not console.store.delete_filter(who.name, filter_id):
                raise HTTPException(404, {"message": f"no saved filter {filter_id!r} of yours"})
            return {"deleted": True}

        @app.get(f"{PREFIX}/widgets/flow-rate", tags=["home"])
        def widget_flow_rate(who: User) -> api.FlowRateWidget:
            return console.flow_rate()

        @app.get(f"{PREFIX}/widgets/top/{{what}}", tags=["home"])
        def widget_top(what: str, who: User) -> api.TopWidget:
            wanted = {d.lower(): d for d in DIMENSIONS}.get(what.lower())
            if wanted is None:
                raise HTTPException(404, {"message": f"unknown dimension {what!r}"})
            return console.top_widget(wanted)

        @app.get(f"{PREFIX}/widgets/graph", tags=["home"], response_model=api.LineGraph)
        def widget_graph(who: User) -> Response:
            now = console.now()
            req = api.GraphRequest(
                start=dt.datetime.fromtimestamp(now - 86400, dt.UTC),
                end=dt.datetime.fromtimestamp(now, dt.UTC),
                points=144,
            )
            return json_answer(console.line_graph(req))

        @app.get(f"{PREFIX}/exporters", tags=["exporters"])
        def exporters(who: User) -> api.Exporters:
            return console.exporters()

        @app.get("/v/{view_id}", include_in_schema=False)
        def short_link(view_id: str, who: User) -> RedirectResponse:
            view = console.store.view(view_id)
            if view is None:
                raise HTTPException(404, {"message": f"no saved view {view_id!r}"})
            return RedirectResponse(f"/visualize?{view.state}", status_code=302)

        index = STATIC / "index.html"

        async def page(who: User) -> Response:
            if index.exists():  # 1 kB: read on the event loop, no thread for it
                return HTMLResponse(index.read_bytes(), headers={"Cache-Control": "no-cache"})
            return HTMLResponse(NOT_BUILT.format(p=PREFIX), status_code=503)

        app.get("/", include_in_schema=False)(page)
        for name in PAGES:
            app.get(f"/{name}", include_in_schema=False)(page)
        if (STATIC / "assets").is_dir():
            app.mount("/assets", Assets(directory=STATIC / "assets"), name="assets")
        return app

    def serve(self) -> None:
        """Run the HTTP server until SIGTERM/SIGINT, then return (the caller exits 0).

        uvicorn re-raises the signal it caught after shutting down (the process would
        die of it), so the console handles the signals itself and asks uvicorn to stop.
        """
        import asyncio
        import contextlib
        import signal

        import uvicorn

        from collector.config.types import parse_hostport

        host, port = parse_hostport(self.config.console.http.listen, 8085)
        server = uvicorn.Server(
            uvicorn.Config(self.app, host=host or "127.0.0.1", port=port, log_level="warning")
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]

        def stop(signum: int, frame: object) -> None:
            server.should_exit = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("console on http://%s:%d/", host or "127.0.0.1", port)
        asyncio.run(server.serve())


def _go(seconds: int) -> str:
    from collector.schema.ddl import go_duration

    return go_duration(seconds)
