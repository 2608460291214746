"""The web app: routes, each reading the warehouse (never writing it) and rendering a
template. Errors are pages: 400 for a bad parameter, 404 for an unknown handle, 503 while
the warehouse cannot be read; never a traceback."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.errors import BadParameter, RepecHarvestError
from schemas.exports import FORMATS
from warehouse.citations import export_text
from warehouse.database import Warehouse
from warehouse.health import Health, freshness, health
from warehouse.items import author_page, series_page
from warehouse.page_copy import ItemPages
from warehouse.search import SearchIndex, SearchQuery
from web import charts
from web.dashboard import dashboard_charts
from web.links import author_url, item_url, outside_href, search_url, series_url
from web.params import ITEM_TYPES, SORTS, Params

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between two looks at whether the warehouse changed (the search index is then
#: rebuilt beside the one in use).
REFRESH_EVERY = 30.0
#: After a build of the search index, the next waits this many times as long as it took.
BUILD_SPACING = 4
PER_PAGE = 20
#: How long the dashboard's numbers are reused (they take seconds at millions of items, and
#: the page says which snapshot they are of).
DASHBOARD_TTL = 15.0
#: Where an item's persistent link points outside this app.
ECONPAPERS = "https://EconPapers.repec.org/"
#: Export format -> (media type, file extension).
EXPORTS = {
    "bibtex": ("application/x-bibtex; charset=utf-8", "bib"),
    "ris": ("application/x-research-info-systems; charset=utf-8", "ris"),
    "csl-json": ("application/vnd.citationstyles.csl+json; charset=utf-8", "json"),
}
assert set(EXPORTS) == set(FORMATS)
#: On every answer: no script runs and nothing loads from elsewhere, whatever a harvested
#: value holds (everything is escaped already: this is the second wall); the browser does not
#: guess types; no page of this app is framed by another site.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(
    warehouse: Warehouse,
    search: SearchIndex,
    refresh_every: float | None = REFRESH_EVERY,
    now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
) -> ASGIApp:
    """The app over ``warehouse``; ``search`` is refreshed every ``refresh_every`` seconds
    by a thread of its own (None: only when a search finds no index)."""
    pages = _Pages(warehouse, search, now, building_elsewhere=refresh_every is not None)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        refresher = None
        if refresh_every is not None:
            refresher = threading.Thread(
                target=_refresh_loop, args=(pages, refresh_every, stop),
                name="search-refresh", daemon=True,
            )  # fmt: skip
            refresher.start()
        try:
            yield
        finally:
            stop.set()
            if refresher is not None:
                refresher.join(timeout=60)
            pages.reads.shutdown(wait=True)

    static = resources.files("web").joinpath("static")
    routes = [
        Route("/", pages.dashboard),
        Route("/search", pages.search),
        Route("/author", pages.author_by_name),
        Route("/author/{short_id}", pages.author),
        Route("/series/{handle:path}", pages.series),
        Route("/export/{fmt}/{handle:path}", pages.export),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
        Route("/{handle:path}", pages.item),
    ]
    handlers: dict[Any, Any] = {
        HTTPException: pages.http_error,
        BadParameter: pages.bad_parameter,
        RepecHarvestError: pages.unavailable,
        Exception: pages.internal_error,
    }
    # outermost, so that a 500 (answered by Starlette's outermost middleware) has them too
    return _WithHeaders(Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan))


class _WithHeaders:
    """ASGI middleware: HEADERS on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(HEADERS)
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def _refresh_loop(pages: _Pages, every: float, stop: threading.Event) -> None:
    """Keep the search index on the warehouse's latest snapshot: look every ``every``
    seconds, but after a build wait BUILD_SPACING times as long as it took, so that a harvest
    committing every few seconds does not keep a core building indexes. A failure is logged
    and tried again at the next turn (the index in use stays)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            built = pages.index.refresh()
            pages.refresh_error = None
        except Exception as exc:  # the warehouse busy or gone a moment: try again
            log.warning("search index not refreshed: %s", exc)
            pages.refresh_error = str(exc)
            built = False
        took = time.monotonic() - started
        stop.wait(max(every, BUILD_SPACING * took) if built else every)


class _Pages:
    """The route handlers (sync: Starlette runs them in its thread pool, so a slow query
    never holds the event loop)."""

    def __init__(
        self,
        warehouse: Warehouse,
        search: SearchIndex,
        now: Callable[[], datetime],
        building_elsewhere: bool,
    ) -> None:
        self.warehouse = warehouse
        #: the one thread that reads the warehouse: DuckDB's SQLite catalog readers in two
        #: threads of one process fail while another process commits ("database disk image
        #: is malformed", or the process dies of SIGBUS), whether or not they overlap
        self.reads = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="warehouse", initializer=self._on_reader
        )
        self._local = threading.local()
        self.index = search
        search.read_warehouse = self.read  # its look at the latest snapshot, too
        #: item pages from the copy beside the search index where it is current
        self.item_pages = ItemPages(warehouse, search)
        self.now = now
        #: the refresh thread builds the first index: a search meanwhile is told to come back
        self.building_elsewhere = building_elsewhere
        #: why the refresh thread's last build failed (None: it did not)
        self.refresh_error: str | None = None
        self.templates = _environment()
        self._health: tuple[float, Health] | None = None
        self._health_lock = threading.Lock()

    def read(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` run on the warehouse's thread (one read at a time; directly,
        on that thread)."""
        if getattr(self._local, "reader", False):
            return function(*args)
        return self.reads.submit(function, *args).result()

    def _on_reader(self) -> None:
        self._local.reader = True

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        template = self.templates.get_template(name)
        html = template.render(request=request, path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    # -- pages ------------------------------------------------------------------------

    def item(self, request: Request) -> Response:
        # query parameters are ignored: a persistent link shared with a tracking tag
        # (?utm_source=) is the same page
        handle = request.path_params["handle"]
        page = self.read(self.item_pages.page, handle)
        if page is None:
            raise HTTPException(404, f"No item {handle!r} in this warehouse.")
        return self.render(
            request, "item.html", status=410 if page.deleted else 200, page=page,
            econpapers=ECONPAPERS + page.item["handle"], exports=EXPORTS,
        )  # fmt: skip

    def search(self, request: Request) -> Response:
        params = Params(
            request.query_params,
            ("q", "year_from", "year_to", "series", "type", "jel", "sort", "page"),
        )
        query = SearchQuery(
            text=params.text("q") or "",
            year_from=params.year("year_from"),
            year_to=params.year("year_to"),
            series=params.text("series"),
            item_type=params.choice("type", ITEM_TYPES),
            jel=params.jel(),
            sort=params.choice("sort", SORTS) or "relevance",
            page=params.page(),
            per_page=PER_PAGE,
        )
        if query.year_from and query.year_to and query.year_from > query.year_to:
            raise BadParameter(f"year_from ({query.year_from}) is after year_to ({query.year_to})")
        asked = bool(query.text or query.series or query.item_type or query.jel
                     or query.year_from or query.year_to)  # fmt: skip
        if asked and self.building_elsewhere and not self.index.ready:
            message = (
                "The search index is being built from the warehouse (about a minute and a "
                "half per million items); this page works again once it is ready."
                if self.refresh_error is None else
                f"The search index could not be built: {self.refresh_error}. It is tried "
                "again shortly."
            )  # fmt: skip
            response = self.render(
                request, "error.html", status=503, title="Search is being prepared",
                message=message,
            )  # fmt: skip
            response.headers["Retry-After"] = "30"
            return response
        if asked and not self.index.ready:  # no refresh thread: the first search builds it
            self.index.refresh()
        results = self.index.search(query) if asked else None
        pages = 0 if results is None else -(-results.total // PER_PAGE)
        past_the_end = bool(results and results.total and query.page > pages)
        return self.render(
            request, "search.html", status=404 if past_the_end else 200, query=query,
            results=results, pages=pages,
            item_types=ITEM_TYPES, sorts=SORTS,
            page_link=lambda n: _link(request, page=n),
        )  # fmt: skip

    def author(self, request: Request) -> Response:
        Params(request.query_params, ())
        short_id = request.path_params["short_id"]
        page = self.read(author_page, self.warehouse, short_id)
        if page is None:
            raise HTTPException(404, f"No author with RePEc short-id {short_id!r} here.")
        return self.render(request, "author.html", page=page)

    def author_by_name(self, request: Request) -> Response:
        params = Params(request.query_params, ("name",))
        name = params.text("name")
        if name is None:
            raise BadParameter("name is required: /author?name=Given+Family")
        page = self.read(author_page, self.warehouse, None, name)
        if page is None:
            raise HTTPException(404, f"No author named {name!r} here.")
        return self.render(request, "author.html", page=page)

    def series(self, request: Request) -> Response:
        params = Params(request.query_params, ("year",))
        handle = request.path_params["handle"]
        undated = (params.text("year") or "").lower() == "none"  # the items without a year
        year = None if undated else params.year("year")
        page = self.read(series_page, self.warehouse, handle, year, undated)
        if page is None:
            raise HTTPException(404, f"No series {handle!r} in this warehouse.")
        chart = charts.columns(
            [(str(y) if y is not None else "no year", n) for y, n in reversed(page.years)],
            "Items per year",
        )
        return self.render(request, "series.html", page=page, chart=Markup(chart))

    def export(self, request: Request) -> Response:
        Params(request.query_params, ())
        fmt, handle = request.path_params["fmt"], request.path_params["handle"]
        if fmt not in EXPORTS:
            raise BadParameter(f"export format must be one of {', '.join(EXPORTS)}, not {fmt!r}")
        text, missing = self.read(export_text, self.warehouse, [handle], fmt)
        if missing:
            raise HTTPException(404, f"No item {handle!r} in this warehouse.")
        media, extension = EXPORTS[fmt]
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", handle) + "." + extension
        return Response(
            text, media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip

    def dashboard(self, request: Request) -> Response:
        Params(request.query_params, ())
        report = self.health()
        now = self.now()
        run_charts, corpus = dashboard_charts(report)
        return self.render(
            request, "dashboard.html", report=report, now=now,
            freshness=lambda when: freshness(when, now), run_charts=run_charts, corpus=corpus,
        )  # fmt: skip

    def health(self) -> Health:
        """The dashboard's numbers, reused for DASHBOARD_TTL seconds; one request computes
        them while the others wait for it."""
        with self._health_lock:
            if self._health is None or time.monotonic() - self._health[0] > DASHBOARD_TTL:
                self._health = (time.monotonic(), self.read(health, self.warehouse))
            return self._health[1]

    # -- errors -------------------------------------------------------------------------

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        response = self.render(
            request, "error.html", status=exc.status_code, title=title, message=exc.detail
        )
        response.headers.update(exc.headers or {})  # a 405's Allow
        return response

    def bad_parameter(self, request: Request, exc: Exception) -> Response:
        return self.render(request, "error.html", status=400, title="Bad request", message=str(exc))

    def unavailable(self, request: Request, exc: Exception) -> Response:
        status = 503  # the warehouse or the index failed to answer: not the request's fault
        return self.render(
            request, "error.html", status=status, title="Cannot answer now", message=str(exc)
        )

    def internal_error(self, request: Request, exc: Exception) -> Response:
        log.exception("page %s failed", request.url.path, exc_info=exc)
        return self.render(
            request, "error.html", status=500, title="Something went wrong",
            message="This page failed; the server's log says why.",
        )  # fmt: skip


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["item_url"] = item_url
    env.filters["author_url"] = author_url
    env.filters["series_url"] = series_url
    env.filters["link"] = outside_href
    env.filters["thousands"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    env.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M") if t else "-"
    env.globals["search_url"] = search_url
    return env


def _link(request: Request, **changes: Any) -> str:
    query = {**request.query_params, **{k: str(v) for k, v in changes.items()}}
    return request.url.path + "?" + urlencode(query)
