"""Exported files (`tiertrace.exports.ExportFile`) as HTTP downloads, for the API and the pages alike."""

from __future__ import annotations

from flask import Response

from tiertrace.exports import ExportFile


def download(exported: ExportFile) -> Response:
    """The file as an attachment under its own name and media type."""
    return Response(
        exported.content,
        content_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
