"""One exception tree for the whole kit.

Every error the kit raises on purpose derives from :class:`NxsLabError`::

    NxsLabError
     ├── ConfigError              a settings file or value is wrong (names file, key, expectation)
     │    └── NoServer            nothing is configured and nothing answers here: what was tried, what to do
     ├── MissingDependency        an optional extra is not installed (names the extra)
     ├── ServerStartError         the embedded server did not come up (carries its log tail)
     ├── ScanRefused              a discovery scan refused before sending anything (public range, too many addresses)
     ├── QuantizeError            llama.cpp refused to quantize (carries its last log lines)
     ├── RunbookFailed            a runbook cell raised (names the cell; the executed notebook is kept)
     ├── ToolServerError          an MCP server reported a tool call as failed, or is not running
     ├── ModelNotAllowed          a model outside a provider's allowlist; nothing was sent
     ├── AllProvidersFailed       a fallback chain ran out of providers; carries every attempt
     ├── JudgeError               an evaluation's judge replied without a score in range
     ├── BudgetExceeded           even the system prompt and the latest turn exceed the input budget
     └── ProviderError            an endpoint failed; carries provider, base_url, status, request_id
          ├── ConnectionFailed     refused, DNS failure, unreachable network; 407 (a proxy wants credentials),
          │                        421 (the request reached the wrong server)
          │    └── ConnectTimeout  the TCP/TLS connect did not finish in time
          ├── ResponseTimeout      connected, but no (further) bytes arrived in time (and 408)
          ├── ClientBusy           no free connection in the kit's own pool in time: the client is busy, not
          │                        the server (a chain moves on; never counted against the server's breaker)
          ├── AuthenticationFailed 401 / 403
          ├── RateLimited          429 (``retry_after`` seconds when the server said)
          ├── ModelNotFound        404 naming a model the server does not serve
          ├── UnsupportedEndpoint  the server has no such API (e.g. no Responses API)
          ├── ServerError          5xx
          ├── StreamInterrupted    a stream broke after text arrived; carries ``partial_text``
          ├── RequestRefused       another 4xx: this server will not take it, another may (405, 410, 451 …)
          ├── BadRequest           400 / 422: the request itself is wrong, every provider would refuse it
          │    └── ContextOverflow the prompt does not fit the model's window (or 413: too large for it)
          └── InvalidResponse      a reply that is not what an OpenAI-compatible server sends: a redirect
                                   (captive portal, login proxy, http→https), undecodable or ill-shaped data
                └── ResponseTooLarge  the reply passed the provider's ``max_response_bytes``

Errors from the openai SDK and httpx2 are translated into this tree at one
boundary, :func:`nxs_lab.client._boundary.translated`; callers never need to import
the SDK to catch a failure. No message in this tree ever contains an API key.

Some classes also derive from the built-in exception a caller would expect
(``ConfigError`` is a ``ValueError``, ``MissingDependency`` an ``ImportError``), so
generic handlers keep working; the kit itself never catches those built-ins around
its own calls, so none of its errors can be swallowed by accident.
"""

from __future__ import annotations

__all__ = [
    "AllProvidersFailed",
    "AuthenticationFailed",
    "BadRequest",
    "BudgetExceeded",
    "ClientBusy",
    "ConfigError",
    "ConnectTimeout",
    "ConnectionFailed",
    "ContextOverflow",
    "InvalidResponse",
    "JudgeError",
    "MissingDependency",
    "ModelNotAllowed",
    "ModelNotFound",
    "NoServer",
    "NxsLabError",
    "ProviderError",
    "QuantizeError",
    "RateLimited",
    "RequestRefused",
    "ResponseTimeout",
    "ResponseTooLarge",
    "RunbookFailed",
    "ScanRefused",
    "ServerError",
    "ServerStartError",
    "StreamInterrupted",
    "ToolServerError",
    "UnsupportedEndpoint",
]


class NxsLabError(Exception):
    """Base class of every error the kit raises on purpose."""


class ConfigError(NxsLabError, ValueError):
    """A configuration file or value is invalid.

    ``source`` is the file (or environment variable) the bad value came from and
    ``problems`` lists one ``(key, message)`` pair per problem found; the message
    of the exception lists them all, so one run shows every mistake at once.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in self.problems]
        super().__init__("invalid configuration\n  " + "\n  ".join(lines))


class NoServer(ConfigError):
    """Nothing is configured and no server was found to answer: two lines, what was tried and what to do next
    (``tried`` and ``next``, also as attributes)."""

    def __init__(self, tried: str, next: str) -> None:
        self.tried, self.next = tried, next
        super().__init__("no server", [("tried", tried), ("next", next)])
        self.args = (f"no server answers: {tried}\n  next: {next}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def _render_traceback_(self) -> list[str]:
        """What IPython shows in place of a traceback: the two lines (a newcomer's first cell, not a bug)."""
        return [f"NoServer: {line}" if i == 0 else line for i, line in enumerate(str(self).splitlines())]


class MissingDependency(NxsLabError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(f"{module} is not installed: pip install 'nxs_lab[{extra}]'")


class ServerStartError(NxsLabError, RuntimeError):
    """The embedded server did not become ready; ``log_tail`` holds its last output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        full = message if not log_tail else f"{message}\n--- server log (last lines) ---\n{log_tail}"
        super().__init__(full)


class ScanRefused(NxsLabError, ValueError):
    """A discovery scan was refused before any packet was sent: public addresses, too many, or bad input."""


class QuantizeError(NxsLabError, RuntimeError):
    """llama.cpp refused to quantize; the message carries its last words."""


class RunbookFailed(NxsLabError, RuntimeError):
    """A runbook cell raised. ``cell`` is its index, ``output_path`` the executed notebook kept for reading."""

    def __init__(self, runbook: str, cell: int | None, error: str, output_path: object) -> None:
        self.runbook = runbook
        self.cell = cell
        self.error = error
        self.output_path = output_path
        where = f"cell {cell}" if cell is not None else "a cell"
        super().__init__(f"runbook {runbook} failed in {where}: {error}\n  executed notebook kept at {output_path}")


class ToolServerError(NxsLabError, RuntimeError):
    """An MCP server reported a tool call as an error (the message is its text), or is not running."""


class ModelNotAllowed(NxsLabError, ValueError):
    """A request named a model outside the provider's allowlist. Nothing was sent."""

    def __init__(self, provider: str, model: str, allowed: tuple[str, ...]) -> None:
        self.provider = provider
        self.model = model
        self.allowed = allowed
        super().__init__(
            f"provider {provider!r} does not allow model {model!r}; allowed: {', '.join(allowed) or '(none)'}"
        )


class AllProvidersFailed(NxsLabError, RuntimeError):
    """Every provider of a fallback chain failed or was skipped.

    ``attempts`` lists what happened at each provider; ``last_error`` is the
    last error seen (``None`` when every provider was skipped by its breaker).
    """

    def __init__(self, attempts: tuple, last_error: BaseException | None = None) -> None:
        self.attempts = attempts
        self.last_error = last_error
        lines = [f"{a.provider}: {a.outcome.value}" + (f" ({a.error})" if a.error else "") for a in attempts]
        last = f"\nlast error: {type(last_error).__name__}: {last_error}" if last_error is not None else ""
        super().__init__("every provider failed:\n  " + "\n  ".join(lines or ["(no providers)"]) + last)


class JudgeError(NxsLabError, ValueError):
    """An evaluation's judge replied without a score in range."""


class BudgetExceeded(NxsLabError, ValueError):
    """What must be kept (system prompt + latest user turn) is larger than the input budget."""

    def __init__(self, needed: int, available: int, arithmetic: str = "") -> None:
        self.needed = needed
        self.available = available
        super().__init__(
            f"the system prompt and the latest user turn need {needed} tokens but only {available} fit"
            + (f" ({arithmetic})" if arithmetic else "")
            + ": shorten them, lower max_tokens, or use a model with a larger window"
        )


class ProviderError(NxsLabError):
    """An OpenAI-compatible endpoint failed to answer usefully.

    Attributes: ``provider`` (its name), ``base_url``, ``status`` (HTTP status or
    ``None`` when no response arrived), ``request_id`` (when the server sent one)
    and ``detail`` (the server's own words, when it gave any).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        base_url: str = "",
        status: int | None = None,
        request_id: str | None = None,
        detail: str = "",
    ) -> None:
        self.provider = provider
        self.base_url = base_url
        self.status = status
        self.request_id = request_id
        self.detail = detail
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        where = f"[{self.provider} @ {self.base_url}]" if self.provider else f"[{self.base_url}]"
        parts = [f"{where} {self.message}"]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        if self.detail and self.detail not in self.message:
            parts.append(f": {self.detail}")
        return " ".join(parts)


class ConnectionFailed(ProviderError):
    """No connection could be made: refused, DNS failure, unreachable network."""


class ConnectTimeout(ConnectionFailed):
    """The connection attempt did not complete within the connect timeout."""


class ResponseTimeout(ProviderError):
    """Connected, but the server sent nothing (more) within the read timeout."""


class ClientBusy(ProviderError):
    """No free connection in the kit's own connection pool in time: every connection to this provider was busy with
    other calls. The server may be perfectly healthy, so this never counts against its breaker."""


class AuthenticationFailed(ProviderError):
    """The server refused the credentials (401) or the access (403)."""


class RateLimited(ProviderError):
    """The server answered 429; ``retry_after`` is in seconds when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ModelNotFound(ProviderError):
    """The server does not serve the requested model."""


class UnsupportedEndpoint(ProviderError):
    """The server does not implement this API (e.g. ``/v1/responses``)."""


class ServerError(ProviderError):
    """The server failed (5xx); ``retry_after`` is in seconds when it said when to come back (503)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class StreamInterrupted(ProviderError):
    """A stream failed after text had arrived. The text so far is in ``partial_text`` (a reasoning model's
    thinking so far in ``partial_reasoning``); it is never returned as if it were the whole answer."""

    def __init__(
        self, message: str, *, partial_text: str = "", partial_reasoning: str = "", cause_kind: str = "", **kw
    ) -> None:
        self.partial_text = partial_text
        self.partial_reasoning = partial_reasoning
        self.cause_kind = cause_kind
        super().__init__(message, **kw)


class RequestRefused(ProviderError):
    """This server refused the request for a reason of its own (a 4xx other than 400 / 422, auth, rate limit
    or not-found): another provider may well take it, so a chain moves on."""


class BadRequest(ProviderError):
    """The server rejected the request itself (400 / 422): any provider would, so a chain stops."""


class ContextOverflow(BadRequest):
    """The prompt (plus requested output) does not fit the model's context window.

    ``prompt_tokens`` and ``context_window`` hold the numbers when the server
    stated them, otherwise ``None``; ``counted_tokens`` is the kit's own count of the
    same prompt, when a context guard fitted it.
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None = None,
        context_window: int | None = None,
        counted_tokens: int | None = None,
        **kw,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window
        self.counted_tokens = counted_tokens
        super().__init__(message, **kw)


class InvalidResponse(ProviderError):
    """The server answered with something that is not a valid OpenAI-compatible reply."""


class ResponseTooLarge(InvalidResponse):
    """The reply was larger than the provider's ``max_response_bytes``; reading stopped there."""
