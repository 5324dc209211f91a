"""Credentials out of everything evokd shows or stores: one place that knows what a secret in a
teacher URL looks like.

`teacher.base_url` may carry credentials: `https://user:password@host/v1`, a token as the user
(`https://TOKEN@host`), or a key or signature in the query string (`?api-key=...`, `?sig=...`,
`?X-Amz-Signature=...`, a SAS token). The API key itself comes from OPENAI_API_KEY. Whatever
prints or writes a URL (error messages, log lines, `teacher check`, batch records) shows
`display_url(url)`, and whatever prints text that may quote one (an SDK error, an HTTP body)
passes it through `Redactor.redact`, which replaces every secret the process knows, in every
spelling a library may use for it (raw, percent-encoded, percent-decoded), plus any userinfo of
any URL and anything shaped like an OpenAI key.
"""

from __future__ import annotations

import re
from typing import Iterable, Optional
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose value is a credential (a word of the name, any case): api_key / api-key /
# apikey / key, token / access_token / X-Amz-Security-Token, secret / client_secret, sig /
# signature / X-Amz-Signature (and Azure SAS `sig`), password / passwd / pwd, auth /
# authorization, credential / X-Amz-Credential, session, jwt, bearer; `code` (OAuth) exactly.
_SECRET_WORDS = r"key|token|secret|sig|passw|pwd|auth|credential|session|jwt|bearer"
_SECRET_PARAM = re.compile(rf"{_SECRET_WORDS}|^code$", re.IGNORECASE)
# userinfo of any URL in free text: scheme://<userinfo>@host
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"<>]+)@")
# A credential-like query parameter of any URL in free text: ?api-key=<value>, &sig=<value>
_QUERY_SECRET = re.compile(rf"(?P<name>[?&;][^=&\s?#'\"<>]*(?:{_SECRET_WORDS})[^=&\s?#'\"<>]*=)[^&#\s'\"<>]+",
                           re.IGNORECASE)
# OpenAI-style secret keys (sk-..., sk-proj-...) wherever they appear, e.g. in a URL path.
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")
# Shorter secrets are not replaced in free text (they would mangle ordinary words); they are still
# removed from every URL evokd renders itself (`display_url`).
MIN_SECRET_LEN = 4


def display_url(url: Optional[str]) -> Optional[str]:
    """`url` with its credentials masked: userinfo, the values of credential-like query
    parameters, and the fragment. A string that does not parse as a URL is `scrub`bed."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a malformed port
    except ValueError:
        return scrub(str(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, MASK if _SECRET_PARAM.search(name) else value) for name, value in pairs],
                          safe="*")
    fragment = MASK if parts.fragment else ""
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, fragment)))


def url_secrets(url: Optional[str]) -> list[str]:
    """The credential strings inside `url`: user and password, credential query values, the
    fragment."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found += [userinfo, *userinfo.split(":", 1)]
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_PARAM.search(name):
            found.append(value)
    for raw in re.split(r"[&;]", parts.query):  # the raw spelling too (parse_qsl decodes it)
        name, _, value = raw.partition("=")
        if _SECRET_PARAM.search(unquote_plus(name)):
            found.append(value)
    if parts.fragment:
        found.append(parts.fragment)
    return found


def _spellings(secret: str) -> set[str]:
    """A secret as libraries may print it: as given, percent-encoded both ways, decoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), unquote(secret),
            unquote_plus(secret), quote(secret, safe=":/")}


def scrub(text: str) -> str:
    """Patterns that are secrets whoever's they are: URL userinfo, credential-like query
    parameters and OpenAI-style keys."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}{MASK}", text)
    return _OPENAI_KEY.sub(MASK, text)


class Redactor:
    """Masks the secrets of one teacher configuration (the API key and every URL's
    credentials) in any text."""

    def __init__(self, urls: Iterable[Optional[str]] = (), api_key: Optional[str] = None):
        secrets = set()
        for raw in [api_key or "", *(s for url in urls for s in url_secrets(url))]:
            secrets |= {s for s in _spellings(raw) if len(s) >= MIN_SECRET_LEN}
        # Longest first, so that a secret containing another is masked whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        return self.redact(text)

    def redact(self, text: object) -> str:
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return scrub(text)
