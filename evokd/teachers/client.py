"""One chat-completions request through the `openai` SDK, with bounded retries.

The SDK's own retries are off (max_retries=0): this module retries 429, 408/409 and 5xx replies,
timeouts and dropped connections with exponential backoff and jitter, waits at least what a
`Retry-After` (or `retry-after-ms`) header asks (at most 5 minutes), and gives up after
`max_tries` with a TeacherError that says what kept failing. 401/403/404/400 are not retried:
they are configuration mistakes, reported with what to change.

The API key is handed in by the caller (the CLI reads OPENAI_API_KEY, or AZURE_OPENAI_API_KEY
with `teacher.azure`); every message this module builds shows endpoints as `display_urls` and
passes through `redact` (evokd.teachers.redact), so neither the key nor credentials inside a base
URL reach an exception, a log line or a file. With `teacher.azure` the requests go through the SDK's
`AzureOpenAI` client (`/openai/deployments/<deployment>/chat/completions?api-version=...`, the key
in an `api-key` header).

Request shape: callers hand over *sampling* params under evokd's own names, the output cap as
`max_tokens` whatever the endpoint calls it; the cache key is computed from them, so the wire
name never changes which cached reply a request finds. `wire` renames the cap to the field this
endpoint takes (`token_param`: `max_tokens` or `max_completion_tokens`). An endpoint that answers
400 naming the field sent (OpenAI: `code` unsupported_parameter, `param` max_tokens) is sent the
other name from then on: a warning, and a line in `adaptations` (recorded in the stage's meta).
Any other refused param is a configuration matter, reported with the key to set
(`refusal_hint`). See docs/teacher-servers.md.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from evokd.errors import ConfigError, TeacherError, TeacherRefused
from evokd.teachers.redact import Redactor, display_url

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = {408, 409, 429}
MAX_RETRY_AFTER_S = 300.0  # a longer Retry-After is waited this long, then retried
NO_KEY = "no-key"  # local servers (vLLM, Ollama, llama.cpp) need none; the SDK insists on one


@dataclass(frozen=True)
class RetryPolicy:
    max_tries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    def delay(self, attempt: int, retry_after: Optional[float], rng: random.Random) -> float:
        """Seconds to wait before try `attempt + 1` (attempt counts from 1)."""
        expo = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        wait = expo * rng.uniform(0.5, 1.0)  # jitter: spread concurrent retries apart
        if retry_after is not None:
            # The server said when to come back: never earlier (up to MAX_RETRY_AFTER_S), plus a
            # little jitter so that concurrent requests do not return all at once.
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_S) * rng.uniform(1.0, 1.1))
        return wait


def parse_retry_after(headers) -> Optional[float]:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None if absent."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Stopped(TeacherError):
    """A request not sent (or not retried) because a sibling request failed for good."""


class Refused(TeacherRefused):
    """The endpoint refused a request field (`param`, evokd's name for it; `sent`, the name on
    the wire); the message ends with `hint`, what to set."""

    def __init__(self, message: str, param: str, reason: str, sent: str, hint: str):
        super().__init__(message)
        self.param, self.reason, self.sent, self.hint = param, reason, sent, hint


# The names an endpoint may take the output cap under; evokd's own name for it is "max_tokens".
TOKEN_PARAMS = ("max_tokens", "max_completion_tokens")
# What to set when an endpoint refuses a param evokd sends (the request field -> the fix).
REFUSAL_HINTS = {
    "max_tokens": "the endpoint wants max_completion_tokens: set teacher.token_param: max_completion_tokens "
                  "(a run switches by itself, with a warning)",
    "max_completion_tokens": "the endpoint knows only max_tokens: set teacher.token_param: max_tokens "
                             "(a run switches by itself, with a warning)",
    "temperature": "the model samples only at its default temperature (a reasoning model): set "
                   "teacher.reasoning: true, or teacher.temperature and teacher.label_temperature: null",
    "seed": "set teacher.send_seed: false",
    "reasoning_effort": "the model takes no reasoning effort: set teacher.reasoning_effort: null",
    "response_format": "this endpoint does not take JSON-schema output: set teacher.json_schema: false",
}


# Words of a message that refuses a field (not a value of it): "Unsupported parameter",
# "Unrecognized request argument supplied", "Extra inputs are not permitted", ...
_REFUSAL_WORDS = ("unsupported", "not supported", "unrecognized", "unknown", "extra", "not permitted",
                  "not allowed", "does not support")


def refused_param(exc) -> Optional[str]:
    """The request field a 400/422 reply refuses, or None: OpenAI and Azure name it in `param`
    (code unsupported_parameter / unsupported_value); other servers only in the message. A value
    the field may not have (OpenAI code invalid_value, "max_tokens is too large") is not a
    refusal of the field."""
    if getattr(exc, "status_code", None) not in (400, 422):
        return None
    body = getattr(exc, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    if isinstance(code, str) and (code == "invalid_value" or "exceeded" in code or "above" in code):
        return None
    param = err.get("param")
    # `param` alone names the field a 400 is about, not that the field is refused ("max_tokens is
    # too large" also comes with param max_tokens and, on some servers, no code): without one of
    # these codes the message must say it is refused.
    if isinstance(param, str) and param in REFUSAL_HINTS and code in ("unsupported_parameter", "unsupported_value",
                                                                      "unknown_parameter"):
        return param
    text = f" {_body_message(exc).lower()} "
    if "response_format" in text or "schema" in text:
        return "response_format"
    if not any(word in text for word in _REFUSAL_WORDS):
        return None
    # The name the message mentions first ("'max_tokens' is not supported ... use
    # 'max_completion_tokens'" refuses max_tokens); quoted or as a word of its own.
    found = []
    for name in REFUSAL_HINTS:
        spots = [text.find(f"{q}{name}{e}") for q, e in (("'", "'"), ('"', '"'), ("`", "`"), (" ", " "))]
        spots = [i for i in spots if i >= 0]
        if spots:
            found.append((min(spots), name))
    return min(found)[1] if found else None


class ChatClient:
    """A thread-safe sender of chat-completions requests to one endpoint, or to a fleet of
    replicas of one model (several `teacher.base_url`s): each try goes to the next endpoint in
    turn, so load spreads evenly and a retry after a failure lands on another replica. Replies
    are the same whichever replica answers (the cache key has no URL in it).

    `azure` (an evokd.config.AzureConfig) sends through the SDK's Azure client instead."""

    def __init__(self, base_url: Optional[str] | list[str], api_key: Optional[str], timeout_s: float,
                 policy: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
                 on_attempt: Callable[[], None] = lambda: None, seed: int = 0,
                 token_param: str = "max_tokens", azure=None, model: Optional[str] = None):
        import openai

        if token_param not in TOKEN_PARAMS:
            raise ValueError(f"token_param must be one of {TOKEN_PARAMS}, got {token_param!r}")
        self.token_param = token_param  # may switch once: see `complete`
        self.adaptations: list[str] = []  # what was changed at run time, for the stage's meta
        self.policy, self.sleep, self.on_attempt = policy, sleep, on_attempt
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.stop = threading.Event()  # set when a sibling request failed for good
        self.retries = 0  # tries after a failed one, all requests together (the progress display)
        # Quiet the SDK's and its HTTP library's debug logs (they echo request options).
        for name in ("openai", "httpx", "httpx2", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._sdk = openai
        self.azure = azure
        if azure is not None:
            if not api_key:
                raise ConfigError("teacher.azure is set but AZURE_OPENAI_API_KEY is not: export the key of "
                                   "the Azure OpenAI resource in the environment (never in params.yaml)")
            deployment = azure.deployment or model
            self.base_urls = [f"{azure.endpoint.rstrip('/')}/openai/deployments/{deployment}"]
            self._clients = [openai.AzureOpenAI(
                azure_endpoint=azure.endpoint, azure_deployment=deployment, api_version=azure.api_version,
                api_key=api_key, timeout=timeout_s, max_retries=0)]
        else:
            urls = base_url if isinstance(base_url, (list, tuple)) else [base_url]
            self.base_urls = [(url or DEFAULT_BASE_URL).rstrip("/") for url in urls] or [DEFAULT_BASE_URL]
            self._clients = [openai.OpenAI(api_key=api_key or NO_KEY, base_url=url, timeout=timeout_s,
                                           max_retries=0) for url in self.base_urls]
        self.base_url = self.base_urls[0]
        # What messages show: the same endpoints with their credentials masked.
        self.display_urls = [display_url(url) for url in self.base_urls]
        self.display_url = self.display_urls[0]
        self._turn = 0  # the endpoint the next try goes to (round robin)
        self._redactor = Redactor(self.base_urls, api_key)
        self._client = self._clients[0]

    def wire(self, sampling: dict) -> dict:
        """The request fields for `sampling` (evokd's names): the output cap under the name this
        endpoint takes."""
        name = self.token_param
        return {(name if key == "max_tokens" else key): value for key, value in sampling.items()}

    def _switch_token_param(self, refused: str, url: str) -> bool:
        """After a 400 refusing the cap's field: send the other name from now on (True), or
        False when that name was already tried (the refusal is then reported)."""
        with self._rng_lock:
            if refused != self.token_param:
                return True  # another thread switched already
            other = TOKEN_PARAMS[1 - TOKEN_PARAMS.index(refused)]
            if any(line.startswith(f"token_param: {other} ->") for line in self.adaptations):
                return False
            self.token_param = other
            line = f"token_param: {refused} -> {other} ({url} refused {refused!r})"
            self.adaptations.append(line)
        log.warning("teacher: %s refused %r; sending the output cap as %r from now on (set "
                    "teacher.token_param: %s to skip the refused request)", url, refused, other, other)
        return True

    def _next(self):
        """(displayed url, SDK client) of the endpoint the next try goes to."""
        with self._rng_lock:
            i = self._turn % len(self._clients)
            self._turn += 1
        return self.display_urls[i], self._clients[i]

    def redact(self, text: object) -> str:
        """`text` without the API key or any credential of the endpoints' URLs."""
        return self._redactor.redact(text)

    def _jittered(self, attempt: int, retry_after: Optional[float]) -> float:
        with self._rng_lock:
            return self.policy.delay(attempt, retry_after, self._rng)

    def complete(self, model: str, messages: list[dict], sampling: dict, meter=None) -> dict:
        """Send one request (retrying what is worth retrying); the reply as a plain dict.

        `meter` (evokd.teachers.budget.Meter) pays for each try: reserved before it is sent
        (BudgetExceeded if that would cross the cap), given back when the server refused it with
        an error status, kept when it timed out or lost its connection (it may have been
        processed and billed). The caller settles the answered try."""
        sdk = self._sdk
        last = ""
        attempt = 0
        while attempt < self.policy.max_tries:
            attempt += 1
            if self.stop.is_set():
                raise Stopped("stopped: another teacher request failed")
            if meter is not None:
                meter.before_try()
            self.on_attempt()
            retry_after = None
            url, client = self._next()
            try:
                fields = self.wire(sampling)
                response = client.chat.completions.create(model=model, messages=messages, **fields)
                return self._reply(response)
            except sdk.APITimeoutError:
                last = "no reply within the timeout (teacher.timeout_s)"
            except sdk.APIConnectionError as exc:
                last = f"cannot connect to {url}: {self.redact(str(exc.__cause__ or exc))}"
            except sdk.APIStatusError as exc:
                if meter is not None:
                    meter.refund_try()  # the server answered no: nothing was generated
                status = exc.status_code
                refused = refused_param(exc)
                # Only a refusal of the name this request sent: one naming the other would
                # otherwise be re-sent unchanged, forever.
                if refused in TOKEN_PARAMS and refused in fields and self._switch_token_param(refused, url):
                    attempt -= 1  # the same request with the cap renamed: not a failed try
                    continue
                if status not in RETRY_STATUS and status < 500:
                    raise self.fatal(exc, model, url) from None
                retry_after = parse_retry_after(exc.response.headers)
                last = f"HTTP {status} from {url}" + (f" (Retry-After {retry_after:g}s)" if retry_after is not None else "")
            if attempt < self.policy.max_tries:
                with self._rng_lock:
                    self.retries += 1
                wait = self._jittered(attempt, retry_after)
                log.info("teacher: %s; try %d of %d in %.1fs", last, attempt + 1, self.policy.max_tries, wait)
                self.sleep(wait)
        raise TeacherError(f"the teacher at {', '.join(self.display_urls)} kept failing: {last}, {self.policy.max_tries} "
                           f"tries (teacher.max_tries). Replies received so far are cached; run again "
                           f"when the endpoint recovers.")

    def fatal(self, exc, model: str, url: Optional[str] = None) -> TeacherRefused:
        """A TeacherRefused for a reply that retrying cannot fix, with what to change."""
        status = exc.status_code
        url = url or self.display_url
        if status == 401:
            if self.azure is not None:
                return TeacherRefused(f"the Azure endpoint {url} refused the API key (HTTP 401): set a valid "
                                    f"AZURE_OPENAI_API_KEY in the environment")
            return TeacherRefused(f"the endpoint {url} refused the API key (HTTP 401): set a "
                                f"valid OPENAI_API_KEY in the environment (or none for a local server)")
        if status == 403:
            return TeacherRefused(f"the endpoint {url} denied access (HTTP 403): the key may "
                                f"lack access to model {model!r} or to this project")
        body = self.redact(_body_message(exc))
        if status == 404:
            if self.azure is not None:
                return TeacherRefused(f"no deployment at {url} (HTTP 404: {body}): check teacher.azure.deployment "
                                    f"(or teacher.model), teacher.azure.endpoint and teacher.azure.api_version")
            return TeacherRefused(f"model {model!r} not found at {url} (HTTP 404: {body}): "
                                f"check teacher.model, and that teacher.base_url ends in /v1 where "
                                f"the server needs it")
        refused = refused_param(exc)
        message = f"the endpoint {url} rejected the request (HTTP {status}: {body})"
        if refused:
            return Refused(f"{message}; {REFUSAL_HINTS[refused]} (docs/teacher-servers.md)",
                           "max_tokens" if refused in TOKEN_PARAMS else refused, body, refused,
                           REFUSAL_HINTS[refused])
        return TeacherRefused(message)

    @staticmethod
    def _reply(response) -> dict:
        """The reply as a plain dict. The SDK builds its objects without validating them, so any
        field may hold anything: read defensively, and keep token counts as sent (the dispatcher
        charges a count that makes no sense as the request's reservation). `usage` keeps what
        accounting needs: prompt and completion tokens, and the hidden reasoning tokens
        (`completion_tokens_details`)."""
        choices = getattr(response, "choices", None)
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = getattr(choice, "message", None)
        usage = getattr(response, "usage", None)
        model = getattr(response, "model", None)
        finish = getattr(choice, "finish_reason", None)
        counts = None
        if usage is not None:
            counts = {"prompt_tokens": _plain(getattr(usage, "prompt_tokens", None)),
                      "completion_tokens": _plain(getattr(usage, "completion_tokens", None))}
            total = _plain(getattr(usage, "total_tokens", None))
            if total is not None:
                counts["total_tokens"] = total
            details = getattr(usage, "completion_tokens_details", None)
            reasoning = _plain(getattr(details, "reasoning_tokens", None))
            if reasoning is not None:
                counts["reasoning_tokens"] = reasoning
        return {
            "content": getattr(message, "content", None),
            "finish_reason": finish if isinstance(finish, str) else None,
            "model": model if isinstance(model, str) else None,
            "usage": counts,
        }


def _plain(value: object) -> object:
    """A JSON-writable token count: numbers, strings and None as sent, anything else None."""
    return value if isinstance(value, (int, float, str, type(None))) else None


def _body_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        return str(err)[:300]
    return str(getattr(exc, "message", exc))[:300]
