"""The FastAPI application: `create_app()` for uvicorn (`comfyloom api`) and for tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from api import errors, spec
from api.body_guard import BodyGuard
from api.launcher import Launcher
from api.metrics import ApiMetrics
from api.routes import admin, characters, credits, fleet_page, health, image_generation, jobs, stories, webhooks
from comfyloom import __version__, db, temporal
from comfyloom.db.job_notices import JobNotices
from comfyloom.settings import Settings, get_settings
from comfyloom.startup import database_url
from comfyloom.storage import ObjectStore

log = logging.getLogger("comfyloom.api")
# How long a stopping API waits for the runs it is starting; the notes of any left start them later.
LAUNCH_DRAIN_SECONDS = 5.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.connect(database_url(settings, "API"))
        await db.migrate(pool)
        store = ObjectStore(settings)
        app.state.settings = settings
        app.state.pool = pool
        app.state.store = store
        # Lazy: an API started while Temporal is away admits jobs (their runs start when it is back) and says so.
        app.state.temporal = await temporal.connect(settings, identity="comfyloom-api", lazy=True)
        app.state.launcher = launcher = Launcher(pool, app.state.temporal)
        app.state.notices = notices = JobNotices(database_url(settings, "API"))
        try:
            yield
        finally:
            await launcher.drain(LAUNCH_DRAIN_SECONDS)
            await notices.close()
            await pool.close()

    app = FastAPI(
        title="comfyloom",
        version=__version__,
        description="Durable image generation for character apps (avatars, stickers, story covers, chat scenes)"
        " through Temporal and ComfyUI.",
        lifespan=lifespan,
        # operationId = the route function's name (generate_avatar), so generated clients read well.
        generate_unique_id_function=lambda route: route.name,
    )
    errors.install(app)
    app.add_middleware(BodyGuard, max_bytes=settings.api_max_body_bytes)
    api_metrics = ApiMetrics()
    app.add_middleware(api_metrics.middleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format; no key, like health: scrape it from inside the network."""
        return api_metrics.exposition()

    app.include_router(characters.router)
    app.include_router(stories.router)
    app.include_router(image_generation.router)
    app.include_router(jobs.router)
    app.include_router(credits.router)
    app.include_router(webhooks.router)
    app.include_router(admin.router)
    app.include_router(fleet_page.router)
    app.include_router(health.router)
    spec.document(app, settings)
    return app
