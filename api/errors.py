"""One error shape for every 4xx/5xx: `{"error": {"type", "message", "fields"?}}`, fields named."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from comfyloom.prompts.safety import Refusal


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        field: str | None = None,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.fields = [*([field] if field else []), *(fields or [])]
        self.headers = headers
        # More of the error's own facts, beside type and message (a 402's balance and price).
        self.extra = extra or {}


class ErrorField(BaseModel):
    field: str = Field(description="The field as the request names it: `characterIds[1]`, `Idempotency-Key`, …")
    message: str
    in_: str | None = Field(default=None, alias="in", description="body, query, path or header (validation).")
    type: str | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="What went wrong, for code to branch on: not_found, insufficient_credits, …")
    message: str = Field(description="The same, for people.")
    fields: list[ErrorField] | None = Field(default=None, description="Each request field at fault.")
    balance: int | None = Field(default=None, description="402: credits available.")
    price: int | None = Field(default=None, description="402: what the request costs.")
    retry_after: int | None = Field(
        default=None, alias="retryAfter", description="429: seconds to wait, as the Retry-After header."
    )


class ErrorOut(BaseModel):
    """Every error answer: `{"error": {...}}`."""

    error: ErrorBody


ERROR_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one (`Authorization: Bearer <key>`).",
    402: "Not enough credits: `balance` and `price` say how many.",
    403: "Not for this key: an operator's (admin) key is needed, or a user key named another user in "
    "X-On-Behalf-Of (only a service key acts for an app's users).",
    404: "No such resource of yours; another user's is the same 404.",
    409: "The resource is in the wrong state for this (a job already ended or still running, nothing to retry).",
    413: "The body is over this API's size limit (API_MAX_BODY_BYTES, 64 KiB by default); nothing was read.",
    422: "Invalid input (a body that is not JSON, a wrong type, text with NUL or a lone surrogate), or content "
    "refused (`content_refused`); `fields` names each field at fault.",
    429: "Too many new jobs a minute, or too many at once: wait `Retry-After` seconds.",
    503: "A part this needs (Temporal, storage) is unavailable: nothing was changed; try again.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, each with the one error shape."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


def not_found(what: str, ident: object, *, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} not found", field=field)


def content_refused(refusal: Refusal, *, field_names: dict[str, str] | None = None) -> ApiError:
    """422 naming the request fields that carried the refused content (a character's, by `field_names`)."""
    names = field_names or {}
    fields = [next((v for k, v in names.items() if f.startswith(k)), f) for f in refusal.fields]
    return ApiError(422, "content_refused", f"refused: {refusal.reason}", fields=fields)


def error_body(
    type: str, message: str, fields: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type, "message": message, **(extra or {})}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _field_path(loc: tuple[Any, ...]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "body"
    path = ".".join(str(p) for p in loc[1:]) or where
    return where, path


def _message(err: Any) -> str:
    """Pydantic's message, less its "Value error, " prefix on a validator's own words."""
    error = (err.get("ctx") or {}).get("error")
    if err.get("type") == "value_error" and error is not None:
        return str(error)
    return str(err.get("msg", ""))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        fields = [{"field": field, "message": exc.message} for field in dict.fromkeys(exc.fields)] or None
        return JSONResponse(
            error_body(exc.type, exc.message, fields, exc.extra), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            where, path = _field_path(tuple(err.get("loc", ())))
            fields.append({"field": path, "in": where, "message": _message(err), "type": err.get("type", "")})
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
        return JSONResponse(error_body("validation_error", message, fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the first route's methods; a path may have several routes
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(app, request))}
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=headers)


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)
