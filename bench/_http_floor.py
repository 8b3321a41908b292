"""The HTTP floor of bench/declarations.py: a Flask app that reads the body and answers 201 with JSON.

Served by gunicorn with the portal's settings (one process, gthread), it is what one request costs
before tiertrace does any work: a measured ceiling for the accepted-per-second figure.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.post("/api/v1/declarations")
def accept() -> Any:
    request.get_data()
    return {"id": "00000000-0000-0000-0000-000000000000"}, 201
