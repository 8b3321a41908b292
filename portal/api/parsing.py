"""The API's request parsing: flask-smorest's, except that a body is read as JSON whatever its
Content-Type label, and that no JSON body can end in a 500.

webargs reads a body only when it is labelled JSON, and reports every field of any other body as
missing: `curl -d '{"reason": "..."}'`, which labels it application/x-www-form-urlencoded, got "Missing
data for required field." for a field it had sent. Every body of the API is JSON (DESIGN.md), and
POST /api/v1/declarations already reads its raw body whatever the label, so the other endpoints do too:
a body that is not JSON answers 400 "not valid JSON".

`json.loads` raises RecursionError on deep nesting and ValueError on an integer of more than 4,300
digits, where webargs expects only JSONDecodeError; and it accepts text that nothing downstream can hold:
an unpaired UTF-16 surrogate (`"\\ud800"`: no UTF-8 for it) or NUL (PostgreSQL refuses it). Each of these
answers 400 here, before an endpoint runs.

Every body is read before the token lookup (`read_body_first`): on SQLite the request's transaction holds
the process's lock of the database from that lookup to its end (tiertrace/db.py), and a body read inside
it is read while every other request of the process waits, for as long as the client takes to send it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any, TypeVar

import flask
import flask_smorest
from flask import current_app, g, request
from webargs import core
from webargs.flaskparser import FlaskParser, abort

from tiertrace.text import unstorable_text_paths

F = TypeVar("F", bound=Callable[..., Any])


def body_limit(limit: int) -> Callable[[F], F]:
    """An endpoint whose body is read up to `limit` bytes (and one more, which tells a longer body),
    instead of up to MAX_CONTENT_LENGTH. Put it right below the route decorator."""

    def decorate(view: F) -> F:
        view.body_limit = limit  # type: ignore[attr-defined]  # read back by `_body_limit`
        return view

    return decorate


def _body_limit() -> int | None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit: int | None = getattr(view, "body_limit", request.max_content_length)
    return limit


def _read_at_most(stream: IO[bytes], limit: int | None) -> bytes:
    """The stream's bytes up to `limit` + 1 (all of them without a limit): one past the limit tells a
    longer body without reading all of it."""
    if limit is None:
        return stream.read()
    parts, size = [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def read_body_first() -> None:
    """Read the call's body now, before the token lookup takes the database (see the module's docstring).

    A Content-Length over the endpoint's limit is left unread: the endpoint answers 413 without it, once
    the token is checked. An error reading the body (413 past MAX_CONTENT_LENGTH without Content-Length, a
    client gone, a broken chunk) is kept for `request_body` to raise: a call without a valid token answers
    401 whatever its body.
    """
    limit = _body_limit()
    if limit is not None and request.content_length is not None and request.content_length > limit:
        return
    try:
        g.api_body = _read_at_most(request.stream, limit)
    except Exception as error:  # raised where the endpoint asks for the body, as before
        g.api_body_error = error


def request_body() -> bytes:
    """The call's body: up to the endpoint's limit and one byte more (`body_limit`, else
    MAX_CONTENT_LENGTH, past which werkzeug raises 413). Read by `read_body_first` unless the call had no
    token or was a GET."""
    error = g.get("api_body_error")
    if error is not None:
        raise error
    if "api_body" not in g:
        g.api_body = _read_at_most(request.stream, _body_limit())
    body: bytes = g.api_body
    return body


class JsonBodyParser(FlaskParser):
    """webargs' Flask parser, reading every body as JSON and answering 400 to one it cannot hand on safely."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            data = core.parse_json(request_body())  # an empty body is "missing" (webargs)
        except json.JSONDecodeError:
            raise  # webargs answers it: "not valid JSON"
        except (RecursionError, ValueError) as error:
            abort(400, exc=error, messages={"json": ["Invalid JSON body."]})
        if unstorable_text_paths(data):
            abort(
                400,
                message="the request body holds a NUL character or an unpaired surrogate (\\ud800-\\udfff)",
                messages={"json": ["Text may not hold NUL or unpaired surrogates."]},
            )
        return data


class Blueprint(flask_smorest.Blueprint):
    """The API's blueprints: flask-smorest's, parsing bodies with `JsonBodyParser`."""

    ARGUMENTS_PARSER = JsonBodyParser()
