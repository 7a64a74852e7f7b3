"""A thin asynchronous client of the MAX Bot API over aiohttp (already a dependency).

Own code rather than `maxapi` or `aiomax` from PyPI: both are bot *frameworks* (their own
dispatcher, filters and update types) and this project needs only the transport under its one
aiogram dispatcher. `maxapi` would add five dependencies (backoff, magic-filter, puremagic,
aiofiles, pydantic models of every type) for the few calls below; `aiomax` answers callbacks
at a hard-coded host, so a test server cannot stand in for MAX. The calls here follow the
OpenAPI schema (github.com/max-messenger/api-schema, v0.0.33): the token goes in the bare
`Authorization` header, JSON in and out, errors as {code, message}.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://platform-api2.max.ru"
DEFAULT_TIMEOUT = 60.0


class MaxApiError(Exception):
    """A non-2xx answer: the HTTP status and MAX's error code (e.g. "chat.denied")."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"MAX {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class MaxNetworkError(Exception):
    """MAX could not be reached (connection refused, reset, time-out)."""


class MaxClient:
    """One aiohttp session per client, opened on first use; `close()` ends it."""

    def __init__(
        self, token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def call(
        self,
        http_method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a per-call limit, as aiogram's)
    ) -> dict[str, Any]:
        """One API call; the answer's JSON object. Raises MaxApiError / MaxNetworkError."""
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._http().request(
                http_method,
                self.api_url + path,
                params=query,
                json=body,
                headers={"Authorization": self._token},
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(type(error).__name__) from error
        return _decode(status, raw)

    async def upload(self, kind: str, data: bytes, filename: str) -> dict[str, Any]:
        """The three-step upload's first two steps; returns the payload of the attachment.

        `POST /uploads?type=` gives a URL (and, for video and audio, the token), the bytes go
        there as multipart `data`, and the upload server answers with the payload to send.
        """
        endpoint = await self.call("POST", "/uploads", params={"type": kind})
        # The file name as UTF-8, the way browsers send it: aiohttp's default percent-encodes
        # it, and a volunteer would get «%D1%81%D0%BF….pdf» for «справка.pdf».
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("data", data, filename=filename)
        try:
            async with self._http().post(
                endpoint["url"],
                data=form,
                headers={"Authorization": self._token},
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(type(error).__name__) from error
        payload = _decode(status, raw)
        if endpoint.get("token") and "token" not in payload:
            payload = {"token": endpoint["token"]}
        return payload

    async def download(self, url: str) -> bytes:
        """The bytes behind an attachment's URL (the token only goes to the API's own host)."""
        headers = {"Authorization": self._token} if url.startswith(self.api_url) else {}
        try:
            async with self._http().get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                raw = await response.read()
                if response.status >= 300:
                    raise MaxApiError(response.status, "download", "the file is not available")
                return raw
        except (aiohttp.ClientError, TimeoutError) as error:
            raise MaxNetworkError(type(error).__name__) from error


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _decode(status: int, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status >= 300:
        raise MaxApiError(
            status,
            str(data.get("code") or status),
            str(data.get("message") or data.get("error") or "no description"),
        )
    return data
