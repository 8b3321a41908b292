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
"""

from __future__ import annotations

import json
from typing import Any

import flask
import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, abort

from tiertrace.text import unstorable_text_paths


class JsonBodyParser(FlaskParser):
    """webargs' Flask parser, reading every body as JSON and answering 400 to one it cannot hand on safely."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        try:
            data = core.parse_json(req.get_data(cache=True))  # an empty body is "missing" (webargs)
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
