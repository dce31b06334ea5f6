"""What /docs and /redoc show beyond what FastAPI infers: tags, required accessToken, request bodies,
response schemas and the real error bodies (Ekuaibao's error object, not FastAPI's 422).

The routes parse their parameters by hand where the wire demands it (getInvoiceCollectionData for speed,
the token endpoints because keys in the query string must be refused like wrong keys), so FastAPI cannot
infer those parts; this module states them once, next to each other, and :func:`install` merges them into
the generated schema. tests/api/test_docs.py checks that docs/api.md and this schema list the same paths.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import Route

Schema = dict[str, Any]

TAGS: list[Schema] = [
    {"name": "auth", "description": "Key exchange and token refresh (Ekuaibao 授权)."},
    {"name": "collection", "description": "getInvoiceCollectionData: one page of a taxpayer's invoices."},
    {"name": "collection tasks", "description": "发票归集任务: collect a month from the sandbox, an upstream "
                                                "server or uploaded files."},
    {"name": "unify", "description": "Unified invoicing (统一开票): platforms and their batches."},
    {"name": "operations", "description": "Health, readiness and Prometheus metrics for operators."},
]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _envelope(data: Schema) -> Schema:
    return {"type": "object", "required": ["value"], "properties": {"value": {
        "type": "object", "required": ["corpId", "reqId", "code", "success", "message", "data"],
        "properties": {
            "corpId": {"type": "string"},
            "reqId": {"type": "string", "description": "this request's id; the server's log lines carry it"},
            "code": {"type": "string", "description": "\"2000\" on success, else the seed's result code"},
            "success": {"type": "boolean"}, "message": {"type": "string"},
            "data": {**data, "nullable": True, "description": "null when success is false"},
        }}}}


COMPONENTS: dict[str, Schema] = {
    "ErrorBody": {
        "type": "object", "description": "Ekuaibao's error object, the body of every non-200 answer",
        "required": ["errorCode", "errorMessage", "errorDetails", "code", "data"],
        "properties": {"errorCode": {"type": "integer", "example": 403},
                       "errorMessage": {"type": "string", "example": "未授权"},
                       "errorDetails": {"nullable": True}, "code": {"nullable": True}, "data": {"nullable": True}}},
    "TokenAnswer": {"type": "object", "required": ["value"], "properties": {"value": {
        "type": "object", "required": ["accessToken", "refreshToken", "expireTime", "corporationId"],
        "properties": {"accessToken": {"type": "string"}, "refreshToken": {"type": "string"},
                       "expireTime": {"type": "integer", "description": "epoch milliseconds"},
                       "corporationId": {"type": "string"}}}}},
    "Task": {"type": "object", "properties": {
        "taskId": {"type": "string"}, "nsrsbh": {"type": "string"}, "jxxbz": {"type": "string", "enum": ["jx", "xx"]},
        "kpyf": {"type": "string", "description": "yyyyMM, \"\" for a file import"}, "fplx": {"type": "string"},
        "source": {"type": "string", "enum": ["sandbox", "upstream", "files"]},
        "state": {"type": "string",
                  "enum": ["toProcess", "processing", "processed", "failed", "disabled", "notSupported"]},
        "code": {"type": "string"}, "message": {"type": "string"},
        "counts": {"type": "object", "properties": {k: {"type": "integer"} for k in
                                                    ("inserted", "updated", "unchanged", "rejected")}},
        "rejections": {"type": "array", "items": {"type": "object", "properties": {
            "file": {"type": "string"}, "sheet": {"type": "string"}, "row": {"type": "integer"},
            "reason": {"type": "string"}}}},
        "months": {"type": "array", "items": {"type": "integer"}}, "attempts": {"type": "integer"},
        "createTime": {"type": "integer", "nullable": True}, "startTime": {"type": "integer", "nullable": True},
        "finishTime": {"type": "integer", "nullable": True}}},
    "CollectionPage": {"type": "object", "properties": {
        "page": {"type": "object", "properties": {k: {"type": "integer"} for k in
                                                  ("totalPage", "pageSize", "currentPage", "totalCount")}},
        "list": {"type": "array", "items": {"type": "object", "description":
                 "an invoice exactly as the seed's getInvoiceCollectionData item (docs/api.md); money as "
                 "JSON numbers with the stored digits"}}}},
    "UnifyCorporation": {"type": "object", "properties": {
        "id": {"type": "string", "description": "the unifyInvoiceCorporationId"}, "version": {"type": "integer"},
        "active": {"type": "boolean"}, "createTime": {"type": "integer"}, "updateTime": {"type": "integer"},
        "name": {"type": "string"}, "nameSpell": {"type": "string"}, "code": {"type": "string"},
        "corporationId": {"type": "string"}, "channel": {"type": "string"}}},
    "UnifyBatch": {"type": "object", "description": "the seed's batch shape (docs/api.md)", "properties": {
        "id": {"type": "string"}, "batchNo": {"type": "string"}, "updateTime": {"type": "integer"},
        "masterBillPeriods": {"type": "string", "nullable": True},
        "unifyInvoiceCorporationId": {"type": "string"},
        "invoices": {"type": "array", "items": {"type": "object", "properties": {
            "invoiceId": {"type": "string"}, "invoiceDetailsId": {"type": "array", "items": {"type": "string"}},
            "master": {"type": "object"}, "details": {"type": "array", "items": {"type": "object"}}}}},
        "relation": {"type": "array", "items": {"type": "object", "properties": {
            k: {"type": "string"} for k in ("flowId", "flowCode", "feeDetailId", "invoiceDetailId", "invoiceId")}}}}},
}


def _json(schema: Schema, description: str = "Success") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(**answers: str) -> dict[str, Schema]:
    return {status.removeprefix("s"): {"description": text, "content": {"application/json": {
        "schema": _ref("ErrorBody")}}} for status, text in answers.items()}


def _query(name: str, description: str, *, required: bool = True, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


ACCESS_TOKEN = _query("accessToken", "the token from getAccessToken")
DENIED = "未授权: a missing, unknown or expired accessToken, or a corpId that is not the token's"
BAD = "a malformed request: the message names the parameter or field"
TASK_BODY_FIELDS: Schema = {"corpId": {"type": "string", "description": "the token's corporation"}}


def _task_body(extra: Schema, required: list[str]) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["corpId", *required], "properties": {**TASK_BODY_FIELDS, **extra}}}}}


_TASK = _json(_envelope(_ref("Task")), "The task in the envelope, or a business error (success false)")
_TASK_ERRORS = _errors(s400=BAD, s403=DENIED, s413="a body larger than the limit")

_UNIFY_PARAMETERS = [
    ACCESS_TOKEN, _query("unifyInvoiceCorporationId", "the unify corporation (platform) whose batches are read"),
    _query("index", "the updateTime of the last batch read (0 at first)", schema={"type": "integer", "format": "int64"}),
    _query("count", "batches to answer", schema={"type": "integer", "minimum": 1, "maximum": 10}),
]

OPERATIONS: dict[tuple[str, str], Schema] = {
    ("post", "/api/openapi/v1/auth/getAccessToken"): {
        "tags": ["auth"], "summary": "Exchange appKey/appSecurity for a token pair",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["appKey", "appSecurity"],
            "properties": {"appKey": {"type": "string"}, "appSecurity": {"type": "string"}}}}}},
        "responses": {"200": _json(_ref("TokenAnswer")),
                      **_errors(s403="密钥无效: wrong keys, keys missing or sent in the query string",
                                s429="too many failed attempts from this address or for this appKey; "
                                     "the Retry-After header says when to try again")}},
    ("post", "/api/openapi/v2/auth/refreshToken"): {
        "tags": ["auth"], "summary": "Replace a token pair by a new one (2 hours)",
        "parameters": [ACCESS_TOKEN, _query("refreshToken", "the refreshToken of that pair"),
                       _query("powerCode", "accepted and ignored (Ekuaibao clients send 219904)", required=False)],
        "responses": {"200": _json(_ref("TokenAnswer")), **_errors(s403=DENIED)}},
    ("post", "/api/openapi/v2/auth/refreshToken/expireDate"): {
        "tags": ["auth"], "summary": "刷新授权(指定有效时间): a new pair that expires at expireDate",
        "parameters": [ACCESS_TOKEN, _query("refreshToken", "the refreshToken of that pair"),
                       _query("expireDate", "epoch milliseconds, in the future, at most 366 days ahead",
                              schema={"type": "integer"}),
                       _query("powerCode", "accepted and ignored (Ekuaibao clients send 219904)", required=False)],
        "responses": {"200": _json(_ref("TokenAnswer")),
                      **_errors(s400="expireDate missing, not an integer, past, or too far ahead", s403=DENIED)}},
    ("post", "/api/openapi/v2/invoice/v2/getInvoiceCollectionData"): {
        "tags": ["collection"], "summary": "Get Invoice Collection Data", "parameters": [ACCESS_TOKEN],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["corpId", "nsrsbh", "fplx", "kpyf", "jxxbz", "page"],
            "properties": {
                "corpId": {"type": "string"}, "nsrsbh": {"type": "string"}, "fplx": {"type": "string"},
                "kpyf": {"type": "string", "description": "yyyyMM"},
                "jxxbz": {"type": "string", "enum": ["jx", "xx"]},
                "page": {"type": "object", "required": ["pageSize"], "properties": {
                    "pageSize": {"type": "integer", "minimum": 1, "maximum": 100},
                    "currentPage": {"type": "integer", "minimum": 1},
                }},
            }}}}},
        "responses": {"200": _json(_envelope(_ref("CollectionPage")),
                                   "A page in the envelope, or a business error (success false, e.g. 4008)"),
                      **_errors(s400="a body that is not JSON", s403=DENIED, s413="a body over 64 KiB")}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/create"): {
        "tags": ["collection tasks"], "summary": "Start a collection task",
        "requestBody": _task_body({
            "nsrsbh": {"type": "string"}, "jxxbz": {"type": "string", "enum": ["jx", "xx"]},
            "kpyf": {"type": "string", "description": "yyyyMM"}, "fplx": {"type": "string"},
            "source": {"type": "string", "enum": ["sandbox", "upstream"], "default": "sandbox"},
            "upstream": {"type": "object", "required": ["baseUrl", "appKey", "appSecurity"], "properties": {
                k: {"type": "string"} for k in ("baseUrl", "appKey", "appSecurity", "corpId", "nsrsbh")}}},
            ["nsrsbh", "jxxbz", "kpyf"]),
        "responses": {"200": _TASK, **_TASK_ERRORS}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/status"): {
        "tags": ["collection tasks"], "summary": "A task by id",
        "requestBody": _task_body({"taskId": {"type": "string"}}, ["taskId"]),
        "responses": {"200": _TASK, **_TASK_ERRORS}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/list"): {
        "tags": ["collection tasks"], "summary": "A taxpayer's tasks, newest first (at most 100)",
        "requestBody": _task_body({"nsrsbh": {"type": "string"}}, ["nsrsbh"]),
        "responses": {"200": _json(_envelope({"type": "object", "properties": {
            "list": {"type": "array", "items": _ref("Task")}}})), **_TASK_ERRORS}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/records"): {
        "tags": ["collection tasks"], "summary": "The records a task rejected or skipped, 1,000 per answer",
        "requestBody": _task_body({"taskId": {"type": "string"}, "offset": {"type": "integer", "minimum": 0}},
                                  ["taskId"]),
        "responses": {"200": _json(_envelope({"type": "object", "properties": {
            "records": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["rejected", "skipped"]}, "file": {"type": "string"},
                "sheet": {"type": "string"}, "row": {"type": "integer", "nullable": True},
                "reason": {"type": "string"}}}},
            "offset": {"type": "integer"}, "more": {"type": "boolean"}}})), **_TASK_ERRORS}},
    ("post", "/api/openapi/fapiaohub/v1/collectionTask/revert"): {
        "tags": ["collection tasks"], "summary": "Undo a finished task (fapiaohub's own endpoint)",
        "requestBody": _task_body({"taskId": {"type": "string"}}, ["taskId"]),
        "responses": {"200": _TASK, **_TASK_ERRORS}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/cancel"): {
        "tags": ["collection tasks"], "summary": "Cancel a task that has not started",
        "requestBody": _task_body({"taskId": {"type": "string"}}, ["taskId"]),
        "responses": {"200": _TASK, **_TASK_ERRORS}},
    ("post", "/api/openapi/v2/invoice/v2/collectionTask/upload"): {
        "tags": ["collection tasks"], "summary": "Import invoice files (bureau export, 数电 XML, OFD, PDF)",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["corpId", "nsrsbh", "jxxbz", "files"], "properties": {
                **TASK_BODY_FIELDS, "nsrsbh": {"type": "string"}, "jxxbz": {"type": "string", "enum": ["jx", "xx"]},
                "kpyf": {"type": "string"}, "fplx": {"type": "string"},
                "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
        "responses": {"200": _TASK, **_errors(s400="not multipart/form-data", s403=DENIED,
                                              s413="larger than FAPIAOHUB_MAX_UPLOAD_BYTES")}},
    ("get", "/api/openapi/v1/invoice/unify/corporation/list"): {
        "tags": ["unify"], "summary": "The corporation's unify corporations, oldest first",
        "responses": {"200": _json({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("UnifyCorporation")}}}), **_errors(s403=DENIED)}},
    ("get", "/api/openapi/v2.1/invoice/unify"): {
        "tags": ["unify"], "summary": "Batches with updateTime > index, oldest first",
        "parameters": _UNIFY_PARAMETERS,
        "responses": {"200": _json({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("UnifyBatch")}}}), **_errors(s400=BAD, s403=DENIED)}},
    ("get", "/api/openapi/v1/invoice/unify"): {
        "tags": ["unify"], "summary": "As v2.1, each batch listing only its VAT invoices",
        "parameters": _UNIFY_PARAMETERS,
        "responses": {"200": _json({"type": "object", "properties": {
            "items": {"type": "array", "items": _ref("UnifyBatch")}}}), **_errors(s400=BAD, s403=DENIED)}},
    ("post", "/api/openapi/fapiaohub/v1/unify/corporation"): {
        "tags": ["unify"],
        "responses": {"200": _json({"type": "object", "properties": {"value": _ref("UnifyCorporation")}}),
                      **_errors(s400=BAD, s403=DENIED)}},
    ("post", "/api/openapi/fapiaohub/v1/unify/batch"): {
        "tags": ["unify"],
        "responses": {"200": _json({"type": "object", "properties": {"value": {"type": "object", "properties": {
            "id": {"type": "string"}, "batchNo": {"type": "string"}, "updateTime": {"type": "integer"}}}}}),
            **_errors(s400=BAD, s403=DENIED)}},
    ("get", "/healthz"): {
        "tags": ["operations"], "summary": "The process is up",
        "responses": {"200": _json({"type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}}})}},
    ("get", "/readyz"): {
        "tags": ["operations"], "summary": "The database answers and its schema is at the code's migration",
        "responses": {
            "200": _json({"type": "object", "properties": {"status": {"type": "string"},
                                                           "revision": {"type": "string"}}}),
            "503": _json({"type": "object", "properties": {"status": {"type": "string"},
                                                           "reason": {"type": "string"}}}, "Not ready")}},
    ("get", "/metrics"): {
        "tags": ["operations"], "summary": "Prometheus metrics (text exposition format)",
        "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}},
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi`` produce the inferred schema merged with OPERATIONS (computed once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes, tags=TAGS,
                             description="The Ekuaibao invoice OpenAPI as fapiaohub serves it; "
                                         "docs/api.md is the full reference.")
        plain = _plain_routes(app)
        for (method, path), extra in OPERATIONS.items():
            operation = schema["paths"].get(path, {}).get(method)
            route = plain.get((method, path))
            if operation is None and route is not None:  # FastAPI infers nothing of these but what it would
                operation = schema["paths"].setdefault(path, {})[method] = {
                    "operationId": route.name, "description": inspect.getdoc(route.endpoint) or ""}
            if operation is None:
                continue  # a route that is gone; tests/api/test_docs.py reports it
            _merge(operation, extra)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
        _drop_validation_error(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _plain_routes(app: FastAPI) -> dict[tuple[str, str], Route]:
    """(method, path) → the routes served by Starlette's Route rather than FastAPI's (the hot
    reads: api/app.py), which FastAPI leaves out of the schema."""
    return {(method.lower(), route.path): route for route in app.routes
            if isinstance(route, Route) and not isinstance(route, APIRoute)
            for method in route.methods or () if method != "HEAD"}


def _merge(operation: Schema, extra: Schema) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # validation failures answer 400 with the error object, not FastAPI's 422
    responses.update(extra.get("responses", {}))
    for key in ("tags", "summary", "requestBody"):
        if key in extra:
            operation[key] = extra[key]
    declared = {parameter["name"]: parameter for parameter in extra.get("parameters", [])}
    merged = []
    for parameter in operation.get("parameters", []):
        if parameter["name"] in declared:
            merged.append(declared.pop(parameter["name"]))
        else:
            if parameter["name"] == "accessToken":
                parameter = ACCESS_TOKEN
            merged.append(parameter)
    operation["parameters"] = merged + list(declared.values())
    if not operation["parameters"]:
        del operation["parameters"]


def _drop_validation_error(schema: Schema) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
