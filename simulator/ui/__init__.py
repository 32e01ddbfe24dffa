"""The dashboard (`/_sim/ui`) and the offline API docs (`/docs`, `/redoc`).

Server-rendered pages (Jinja2) over the same services and process state as the control
API, signed in with a tenant's admin key; live parts by server-sent events. Every script
and style is package data under `static/` (no CDN), so both work on a machine without
internet. `install(app)` is all the composition root calls.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from simulator.ui.pages import router
from simulator.ui.session import PREFIX

STATIC = f"{PREFIX}/static"
__all__ = ["STATIC", "install"]


def install(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Mount the dashboard, its static files, and `/docs` and `/redoc` served from them
    (create the app with `docs_url=None, redoc_url=None`)."""
    app.include_router(router)
    app.mount(STATIC, StaticFiles(packages=[("simulator.ui", "static")]), name="ui-static")

    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{STATIC}/vendor/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/vendor/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.svg",
            oauth2_redirect_url=None,
        )

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{STATIC}/vendor/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC}/favicon.svg",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
