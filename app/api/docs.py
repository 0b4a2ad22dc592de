"""The API reference page at `/developers/api`, rendered on the server from the OpenAPI schema.

No documentation bundle from elsewhere and no script: the page lists every operation with its
parameters and answers from the same schema served at `/api/openapi.json`, so the CSP stays as
strict as on every other page.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from app.web.htmx import render

__all__ = ("api_docs",)

_METHODS = ("get", "post", "put", "patch", "delete")


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the schema in path order: method, path, summary, parameters, statuses."""
    found = []
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        (p.get("name", ""), p.get("in", ""), p.get("required", False))
                        for p in op.get("parameters", [])
                    ],
                    "has_body": "requestBody" in op,
                    "responses": sorted(op.get("responses", {})),
                }
            )
    return found


@get("/developers/api", name="api_docs", include_in_schema=False)
async def api_docs(request: Request[Any, Any, Any]) -> Template:
    """The API reference."""
    schema = request.app.openapi_schema.to_schema()
    return render(request, "api/docs.html", operations=operations(schema), info=schema.get("info", {}))
