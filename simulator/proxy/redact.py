"""Keeping secrets out of the recording: stable placeholders `<redacted:N>`.

The same value always gets the same placeholder within one recording (N counts distinct
values), so a replay can still tell that two requests used the same key or customer; the
values themselves never reach the file. Redacted: credential headers (API keys, tokens,
cookies, webhook signatures), JSON fields whose names say they are secret (token, secret,
password, key, signature), the fields named with `--redact-field` (e.g. customer ids,
attributes; every scalar inside them), and every redacted value wherever else it shows up
(a token echoed in a URL, a key inside a text body)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

PLACEHOLDER = re.compile(r"^<redacted:\d+>$")
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_SECRET_NAME = re.compile(r"(token|secret|passw|api[-_]?key|signature|^key$)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9_.@-]+")  # how an id shows inside a text: a whole word
_MIN_SECRET = 4  # shorter values are not searched for elsewhere (they would hit by chance)


class Redactor:
    def __init__(self, fields: Iterable[str] = ()) -> None:
        self.fields = {f.lower() for f in fields}
        self._placeholders: dict[str, str] = {}
        # credentials (few) are searched for as substrings; configured values (customer
        # ids: many) are looked up per word, so scrubbing stays linear in the text
        self._secrets: dict[str, str] = {}

    def placeholder(self, value: Any, *, secret: bool = False) -> str:
        key = value if isinstance(value, str) else repr(value)
        found = self._placeholders.get(key)
        if found is None:
            found = f"<redacted:{len(self._placeholders) + 1}>"
            self._placeholders[key] = found
        if secret and len(key) >= _MIN_SECRET:
            self._secrets[key] = found
        return found

    def secret_header(self, name: str) -> bool:
        n = name.lower()
        return n in SECRET_HEADERS or bool(_SECRET_NAME.search(n))

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in headers:
            if self.secret_header(name) or name.lower() in self.fields:
                value = self.placeholder(value, secret=self.secret_header(name))
            out[name.lower()] = value
        return out

    def query(self, raw: str) -> str:
        """A query string with secret-named and configured parameters replaced."""
        if not raw:
            return raw
        pairs = []
        for name, value in parse_qsl(raw, keep_blank_values=True):
            if name.lower() in self.fields or _SECRET_NAME.search(name):
                value = self.placeholder(value, secret=bool(_SECRET_NAME.search(name)))
            pairs.append((name, value))
        return urlencode(pairs, safe="<>:")

    def json(self, value: Any, *, inside: bool = False, secret: bool = False) -> Any:
        """`value` with secret and configured fields replaced (`inside`: every scalar)."""
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                is_secret = secret or bool(_SECRET_NAME.search(k))
                hide = inside or is_secret or k.lower() in self.fields
                out[k] = self.json(v, inside=hide, secret=is_secret)
            return out
        if isinstance(value, list):
            return [self.json(v, inside=inside, secret=secret) for v in value]
        if inside and value is not None and not isinstance(value, bool):
            return self.placeholder(value, secret=secret)
        return value

    def scrub(self, value: Any) -> Any:
        """Every value redacted so far replaced wherever it occurs inside strings."""
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, str) and not PLACEHOLDER.match(value):
            for secret, placeholder in self._secrets.items():
                if secret in value:
                    value = value.replace(secret, placeholder)
            value = _WORD.sub(self._word, value)
        return value

    def _word(self, match: re.Match[str]) -> str:
        word = match.group()
        return self._placeholders.get(word, word) if len(word) >= _MIN_SECRET else word
