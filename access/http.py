"""The API's hardened edges: one error shape, a bounded JSON parser, a request guard, throttling.

Errors always look like
`{"status": 400, "code": "invalid", "detail": "…", "errors": [{"field": "nodes[0].key", "message": "…"}]}`;
`errors` lists field-level problems (a definition's problems also name `nodes` and `edges`).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any
from urllib.parse import unquote_to_bytes

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django_filters.fields import IsoDateTimeField
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from access.scoping import TokenUser
from baton.errors import BatonError
from baton.text import error_text, translated

MAX_DEPTH = 32


def max_body_bytes() -> int:
    """Return the largest request body the API reads."""
    return int(getattr(settings, "BATON_API_MAX_BODY_BYTES", 1024 * 1024))


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request body is too large.")
    default_code = "too_large"


def check_clean(value: Any, path: str = "") -> None:
    """Reject what no column can hold or no code should walk: deep nesting, NUL, lone surrogates."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise exceptions.ParseError(_("JSON nested deeper than %(depth)s levels") % {"depth": MAX_DEPTH})
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, where)
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise exceptions.ParseError(_("%(where)s: text contains a NUL character") % {"where": where or "body"})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise exceptions.ParseError(
            _("%(where)s: text contains an unpaired surrogate") % {"where": where or "body"}
        ) from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class SafeJSONParser(JSONParser):
    """Parse JSON bodies up to a size limit, strictly UTF-8, without NaN, NUL or deep nesting."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise RequestTooLarge(_("The request body is larger than %(limit)s bytes.") % {"limit": limit})
        try:
            text = data.decode("utf-8")
            value = json.loads(text, parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(_("The body is not UTF-8 (%(reason)s).") % {"reason": exc.reason}) from exc
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(reason)s") % {"reason": str(exc)[:200]}
            ) from exc
        check_clean(value)
        return value


def _error(status_code: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or []}


def _flatten(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested validation detail into a flat list of {field, message}."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out.extend(_flatten(value, f"{path}.{name}" if path and name else (path or name)))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": path, "message": str(item)} for item in detail]
        out = []
        for index, item in enumerate(detail):
            out.extend(_flatten(item, f"{path}[{index}]"))
        return out
    return [{"field": path, "message": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every known failure to the one error shape and its status (400, 401, 403, 404, 409, 413, 429, 503).

    Baton's own errors (`baton.errors`) carry their status, code and field errors; the rest are
    Django's, DRF's and the database's.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, BatonError):
        errors = [{**error, "message": translated(error["message"], _)} for error in exc.field_errors()]
        body = _error(
            exc.http_status, exc.code, translated(exc.summary, _) if exc.summary else error_text(exc, _), errors
        )
    elif isinstance(exc, IntegrityError):
        # Two requests raced for the same name or row; the loser may simply retry.
        body = _error(409, "conflict", _("A concurrent change conflicts with this one; try again."))
    elif isinstance(exc, DjangoValidationError):
        body = _error(400, "invalid", _("The request is not valid."), _flatten(exc.messages))
    elif isinstance(exc, Http404):
        body = _error(404, "not_found", _("Not found."))
    elif isinstance(exc, PermissionDenied):
        body = _error(403, "permission_denied", _("You do not have permission to perform this action."))
    elif isinstance(exc, RequestDataTooBig):
        body = _error(413, "too_large", _("The request body is too large."))
    elif isinstance(exc, RedisError):
        # The shared cache (the trigger throttle's counter) is unreachable: refuse rather than run unthrottled.
        body = _error(503, "unavailable", _("A shared service (the cache) is unreachable; try again shortly."))
        headers["Retry-After"] = "5"
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if not isinstance(exc.detail, dict | list) else exc.default_code
        if isinstance(exc, exceptions.ValidationError):
            body = _error(exc.status_code, "invalid", _("The request is not valid."), _flatten(exc.detail))
        else:
            body = _error(exc.status_code, str(code), str(exc.detail))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            request = context.get("request")
            view = context.get("view")
            if request is not None and view is not None:
                header = view.get_authenticate_header(request)
                if header:
                    headers["WWW-Authenticate"] = header
                else:
                    body["status"] = 403
                    return Response(body, status=403)
    else:
        return None
    return Response(body, status=body["status"], headers=headers)


class TriggerThrottle(ScopedRateThrottle):
    """Throttle the triggering endpoints (run, stop, re-run) per user or per token, exactly, across web processes.

    DRF's own throttle reads a history, decides, then writes it back, so requests arriving at
    once in several processes all read the same history and all pass. Here every request takes
    a number from one counter in the shared cache, whose `incr` is atomic (Redis):
    1. the first request of a window notes its start (`add` keeps an existing one), so all
       requests of the window name the same counter, `<key>:<start>`;
    2. each request increments that counter and passes while its number is within the rate;
    3. the start and the counter expire with the window, and the next request opens a new one;
       a request that finds its counter expired between `add` and `incr` passes as the first
       of that (ended) window's counter, which no later request names.
    """

    scope_attr = "throttle_scope"
    window_start = 0.0

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        self.cache.add(f"{self.key}:start", now, self.duration)
        self.window_start = self.cache.get(f"{self.key}:start", now)
        counter = f"{self.key}:{self.window_start}"
        self.cache.add(counter, 0, self.duration + 1)
        try:
            taken = self.cache.incr(counter)
        except ValueError:  # the window ended between the two calls: this request opens the next one
            self.cache.set(counter, 1, self.duration + 1)
            taken = 1
        return taken <= self.num_requests

    def wait(self):
        return max(0.0, self.duration - (self.timer() - self.window_start))

    def get_cache_key(self, request, view):
        if isinstance(request.user, TokenUser):
            return self.cache_format % {"scope": self.scope, "ident": f"token-{request.user.token.pk}"}
        return super().get_cache_key(request, view)


# The interactive API docs load Baton's own assets only: the browser refuses anything else
# (Redoc's bundle, for one, fetches its sidebar logo from a CDN). No inline script either.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # both UIs set styles at run time
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",  # Redoc's search index runs in a worker
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SelfHostedDocsMixin:
    """An API docs view whose page may load nothing from another host (a Content-Security-Policy)."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class ApiGuardMiddleware:
    """Answer requests no view should see: NUL anywhere in the URL (400) and /api/ bodies over the limit (413).

    No database column holds a NUL, so an admin view that looked one up (`/admin/…/%00/change/`) failed with a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = request.path_info.startswith("/api/")
        if "\x00" in request.path_info or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
            if api:
                return JsonResponse(_error(400, "parse_error", _("The URL contains a NUL character.")), status=400)
            return HttpResponseBadRequest(_("The URL contains a NUL character."), content_type="text/plain")
        if api:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > max_body_bytes():
                return JsonResponse(
                    _error(
                        413,
                        "too_large",
                        _("The request body is larger than %(limit)s bytes.") % {"limit": max_body_bytes()},
                    ),
                    status=413,
                )
        return self.get_response(request)


def bad_request(request, exception=None):
    """Django's own 400 (a Host header outside ALLOWED_HOSTS, a malformed request) in the API's error shape.

    Outside /api/ it is Django's page. The offending value is not echoed back.
    """
    if not request.path_info.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        detail = _("The Host header names a host this server does not answer to (ALLOWED_HOSTS).")
    else:
        detail = _("The request is malformed.")
    return JsonResponse(_error(400, "bad_request", detail), status=400)


def server_error(request):
    """An unhandled error under /api/ in the API's error shape; Django's page elsewhere."""
    if not request.path_info.startswith("/api/"):
        return defaults.server_error(request)
    return JsonResponse(_error(500, "server_error", _("An internal error occurred; it has been logged.")), status=500)


@csrf_exempt
def json_not_found(request, exception=None):
    """Answer unknown /api/ URLs in the API's error shape."""
    return JsonResponse(_error(404, "not_found", _("Not found.")), status=404)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 filter value, moved to UTC before it reaches the database.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: `…T18:05-16:23` was a
    database error (500). In UTC it is an ordinary instant; one that leaves the representable
    range on the way (year 1 at +05:00) is a 400.
    """

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise forms.ValidationError(
                _("Enter a date and time between the years 1 and 9999."), code="invalid"
            ) from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """`IsoDateTimeFilter` whose value is in UTC (see `UtcIsoDateTimeField`)."""

    field_class = UtcIsoDateTimeField


class CappedCountPage(Page):
    """A page that knows whether rows follow it without a count of them all."""

    more: bool | None = None  # set when the count was capped: one row past the page was read

    def has_next(self) -> bool:
        return super().has_next() if self.more is None else self.more


class CappedCountPaginator(Paginator):
    """A paginator that counts at most `count_cap` rows: no page view counts a whole table.

    Past the cap, `count` is the cap and `count_capped` is true; every page is still reached by
    its number (a page has a next one when one more row follows it, read with the page).
    """

    count_cap = 1000

    @cached_property
    def _counted(self) -> int:
        rows = self.object_list
        if isinstance(rows, QuerySet):
            # SELECT COUNT(*) FROM (SELECT id … LIMIT cap + 1): an index range, however large the table.
            return rows.order_by().values("pk")[: self.count_cap + 1].count()
        return len(rows)

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.count_cap)

    @cached_property
    def count_capped(self) -> bool:
        return self._counted > self.count_cap

    def validate_number(self, number: Any) -> int:
        if not self.count_capped:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from exc
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        if not self.count_capped:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        page = self._get_page(rows[: self.per_page], number, self)
        page.more = len(rows) > self.per_page
        return page

    def _get_page(self, *args: Any, **kwargs: Any) -> CappedCountPage:
        return CappedCountPage(*args, **kwargs)


class Pagination(PageNumberPagination):
    """Pages of 50 by default; `page_size` up to 500.

    `count` is exact up to 1000 rows; past that it says 1000 and the answer carries the header
    `Baton-Count-Capped: true` (the next page is still linked while rows follow).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    django_paginator_class = CappedCountPaginator

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        if self.page.paginator.count_capped:
            response["Baton-Count-Capped"] = "true"
        return response
