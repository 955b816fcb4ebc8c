"""The one place where openai-SDK and httpx2 errors become the kit's own.

``with translated(provider_name, base_url): ...`` re-raises the most specific
:mod:`nxs_lab.errors` class ``from`` the original error. It works around
``await`` too, so sync and async code share it. The SDK is imported only when
an exception actually needs translating, keeping ``import nxs_lab`` light.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from .. import errors as E
from .._net import redact_url
from ._allowance import Allowance
from .overflow import OverflowInfo, parse_overflow

__all__ = ["allowance_failure", "limited", "parse_retry_after", "shape_checked", "status_error", "translated"]

_NOT_FOUND_HINTS = ("model", "not found", "does not exist", "no such")
# Statuses that say something about the path to this server, not about the request: another provider may answer.
_SPECIAL_STATUS: dict[int, tuple[type[E.ProviderError], str]] = {
    407: (E.ConnectionFailed, "a proxy between here and the server wants credentials"),
    408: (E.ResponseTimeout, "the server timed out waiting for the request"),
    413: (E.ContextOverflow, "the request is too large for this server"),
    421: (E.ConnectionFailed, "the request reached a server that does not serve this address"),
}
# How much of a server's own error text an exception keeps: enough to read, never a flood.
DETAIL_LIMIT = 300


def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date), else ``None``.

    ``now`` (a UNIX time) is injectable so the HTTP-date form is testable with a frozen clock.
    """
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass  # fall through to Retry-After: a bad ms header must not hide a good one
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass  # not a number: try the HTTP-date form below
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    import time

    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _detail(body: Any) -> str:
    """The server's own words from an error body, cut to :data:`DETAIL_LIMIT` characters."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            text = str(inner.get("message") or inner.get("detail") or json.dumps(inner, default=str)[:DETAIL_LIMIT])
        else:
            text = str(inner)
    elif body is None:
        return ""
    else:
        text = str(body)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + f"… ({len(text)} characters)"


def _overflow(info: OverflowInfo, **kw: Any) -> E.ContextOverflow:
    numbers = ", ".join(
        part
        for part in (
            f"{info.prompt_tokens} prompt tokens" if info.prompt_tokens is not None else "",
            f"window {info.context_window}" if info.context_window is not None else "",
        )
        if part
    )
    return E.ContextOverflow(
        "the prompt does not fit the model's context window" + (f" ({numbers})" if numbers else ""),
        prompt_tokens=info.prompt_tokens,
        context_window=info.context_window,
        **kw,
    )


def _says_auth(body: Any) -> bool:
    """An error body that says the credentials were refused: LiteLLM's ``"type": "auth_error"`` ("Authentication
    Error, …"), and its ``no_db_connection`` (a key that is not the master key, on a proxy with no database of other
    keys: it can never be accepted there)."""
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return False
    message = str(err.get("message") or "")
    kind = err.get("type")
    return kind in ("auth_error", "no_db_connection") or message.lower().startswith("authentication error")


def status_error(
    status: int,
    body: Any,
    headers: Any,
    *,
    provider: str,
    base_url: str,
    path: str = "",
    message: str = "",
) -> E.ProviderError:
    """Map an HTTP error status and body to the most specific :class:`ProviderError`."""
    request_id = headers.get("x-request-id") if headers is not None else None
    detail = _detail(body)
    kw: dict[str, Any] = dict(provider=provider, base_url=base_url, status=status, request_id=request_id, detail=detail)
    where = f" on {path}" if path else ""
    if status in (401, 403):
        what = "rejected the API key" if status == 401 else "denied access"
        return E.AuthenticationFailed(f"the server {what}{where}", **kw)
    if status == 400 and _says_auth(body):  # LiteLLM's proxy without a database: a wrong key is a 400 auth_error
        return E.AuthenticationFailed(f"the server rejected the API key{where} (HTTP 400, an auth_error)", **kw)
    if status == 429:
        return E.RateLimited(f"rate limited{where}", retry_after=parse_retry_after(headers), **kw)
    if status == 404:
        low = detail.lower()
        if path.endswith("/responses"):
            return E.UnsupportedEndpoint("this server has no Responses API (/v1/responses)", **kw)
        if any(h in low for h in _NOT_FOUND_HINTS) and "model" in low:
            return E.ModelNotFound(f"model not found{where}", **kw)
        return E.UnsupportedEndpoint(f"the server has no endpoint{where or ' at this path'}", **kw)
    if status == 501:  # Not Implemented: llama-server's "does not support embeddings" (started without them)
        return E.UnsupportedEndpoint(f"the server does not serve this{where}", **kw)
    if status >= 500:
        return E.ServerError(f"server error{where}", retry_after=parse_retry_after(headers), **kw)
    special = _SPECIAL_STATUS.get(status)
    if 300 <= status < 400:
        location = headers.get("location", "") if headers is not None else ""
        return E.InvalidResponse(
            f"the server redirected{where} instead of answering"
            + (f" (to {redact_url(location)[:200]})" if location else "")
            + ": a captive portal, a login proxy, or an http→https redirect",
            **kw,
        )
    if special is not None:
        cls, text = special
        return cls(text + where, **kw)
    info = parse_overflow(status, body, message)
    if info is not None:
        return _overflow(info, **kw)
    low = detail.lower()
    if "model" in low and any(h in low for h in ("not found", "does not exist", "unknown model", "no such")):
        return E.ModelNotFound(f"model not found{where}", **kw)
    if status in (400, 422):
        return E.BadRequest(f"the server rejected the request{where}", **kw)
    return E.RequestRefused(f"the server refused the request{where}", **kw)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (async transports hide the OSError a level or two down)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _transport_error(exc: BaseException, provider: str, base_url: str) -> E.ProviderError | None:
    kw: dict[str, Any] = dict(provider=provider, base_url=base_url)
    if isinstance(exc, httpx2.ConnectTimeout):
        return E.ConnectTimeout("connect timed out", **kw)
    if isinstance(exc, httpx2.PoolTimeout):
        return E.ClientBusy("no free connection in the client's own pool in time (the client is busy)", **kw)
    if isinstance(exc, (httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.TimeoutException)):
        return E.ResponseTimeout("no response within the read timeout", **kw)
    if isinstance(exc, httpx2.ConnectError):
        text = " ".join(str(e).lower() + " " + type(e).__name__.lower() for e in _chain(exc))
        if any(w in text for w in ("name or service", "nodename", "name resolution", "getaddrinfo", "gaierror")):
            return E.ConnectionFailed("the host name does not resolve", detail=str(exc), **kw)
        if "refused" in text or "errno 111" in text:
            return E.ConnectionFailed("connection refused", **kw)
        return E.ConnectionFailed("could not connect", detail=str(exc), **kw)
    if isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError, httpx2.CloseError)):
        return E.ConnectionFailed("the connection broke", detail=str(exc), **kw)
    if isinstance(exc, httpx2.TransportError):
        return E.ConnectionFailed("transport error", detail=str(exc), **kw)
    return None


def _sdk_error(exc: BaseException, provider: str, base_url: str) -> E.ProviderError | None:
    import openai

    if isinstance(exc, openai.APIStatusError):
        path = exc.request.url.path if getattr(exc, "request", None) is not None else ""
        return status_error(
            exc.status_code,
            exc.body,
            exc.response.headers,
            provider=provider,
            base_url=base_url,
            path=path,
            message=exc.message,
        )
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, httpx2.HTTPError):
            cause = cause.__cause__
        if cause is not None:
            mapped = _transport_error(cause, provider, base_url)
            if mapped is not None:
                return mapped
        if isinstance(exc, openai.APITimeoutError):
            return E.ResponseTimeout("request timed out", provider=provider, base_url=base_url)
        return E.ConnectionFailed("connection error", provider=provider, base_url=base_url)
    if isinstance(exc, openai.APIResponseValidationError):
        return E.InvalidResponse("the reply does not match the OpenAI schema", provider=provider, base_url=base_url)
    if isinstance(exc, openai.APIError):
        # Errors reported inside a 200 stream ("error" events) and undecodable bodies.
        info = parse_overflow(None, exc.body, exc.message)
        if info is not None:
            return _overflow(info, provider=provider, base_url=base_url, detail=_detail(exc.body))
        return E.InvalidResponse(
            "the server reported an error", provider=provider, base_url=base_url, detail=exc.message
        )
    return None


def allowance_failure(
    allowance: Allowance, deadline_error: Callable[[], E.ProviderError], provider: str, base_url: str
) -> E.ProviderError | None:
    """The kit's error for a request whose allowance ran out (``None`` when it did not): ``deadline_error()`` for the
    deadline, :class:`ResponseTooLarge` for the byte cap, :class:`InvalidResponse` for a compressed reply."""
    if allowance.tripped == "deadline":
        return deadline_error()
    if allowance.tripped == "bytes":
        return E.ResponseTooLarge(
            f"the reply is larger than max_response_bytes ({allowance.max_bytes:,} bytes); reading stopped",
            provider=provider,
            base_url=base_url,
        )
    if allowance.tripped == "encoding":
        return E.InvalidResponse(
            "the server sent a compressed reply though none was asked for (its size could not be capped)",
            provider=provider,
            base_url=base_url,
        )
    return None


@contextlib.contextmanager
def limited(
    allowance: Allowance, deadline_error: Callable[[], E.ProviderError], provider: str, base_url: str
) -> Iterator[Allowance]:
    """Run the block under ``allowance``; if it failed because the allowance ran out, raise :func:`allowance_failure`'s error."""
    with allowance.active():
        try:
            yield allowance
        except Exception as exc:
            failure = allowance_failure(allowance, deadline_error, provider, base_url)
            if failure is None:
                raise
            raise failure from exc


@contextlib.contextmanager
def shape_checked(what: str, provider: str, base_url: str) -> Iterator[None]:
    """While reading a decoded reply: fields of the wrong type (a number where a list belongs, a missing
    object) are the server's fault, so they become :class:`InvalidResponse` and a chain fails over."""
    try:
        yield
    except E.NxsLabError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise E.InvalidResponse(
            f"{what} has the wrong shape ({type(exc).__name__}: {str(exc)[:120]})", provider=provider, base_url=base_url
        ) from exc


@contextlib.contextmanager
def translated(provider: str, base_url: str) -> Iterator[None]:
    """Re-raise SDK / transport / decoding errors as the kit's :class:`ProviderError` tree."""
    try:
        yield
    except E.NxsLabError:
        raise
    except httpx2.HTTPError as exc:
        mapped = _transport_error(exc, provider, base_url)
        if mapped is None:
            raise
        raise mapped from exc
    except json.JSONDecodeError as exc:
        raise E.InvalidResponse("the reply is not valid JSON", provider=provider, base_url=base_url) from exc
    except UnicodeDecodeError as exc:
        raise E.InvalidResponse("the reply is not valid UTF-8", provider=provider, base_url=base_url) from exc
    except RecursionError as exc:  # JSON nested deeper than the decoder's stack: hostile or broken
        raise E.InvalidResponse(
            "the reply is nested too deeply to decode", provider=provider, base_url=base_url
        ) from exc
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "openai":
            raise
        mapped = _sdk_error(exc, provider, base_url)
        if mapped is None:
            raise
        raise mapped from exc
