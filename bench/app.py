"""The server under benchmark: fapiaohub's app plus floor routes that return, from memory, the
bytes the real endpoint answered (FAPIAOHUB_BENCH_FLOOR and FAPIAOHUB_BENCH_UNIFY_FLOOR name the
files holding them: a collection page, ten unify batches)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from fapiaohub.api.app import create_app


def create_bench_app() -> FastAPI:
    app = create_app()
    cached: list[bytes] = []

    @app.post("/bench/floor")
    async def floor() -> Response:
        if not cached:  # read once; every later request is served from memory
            cached.append(Path(os.environ["FAPIAOHUB_BENCH_FLOOR"]).read_bytes())
        return Response(cached[0], media_type="application/json")

    unify: list[bytes] = []

    @app.get("/bench/floor/unify")
    async def unify_floor() -> Response:
        if not unify:
            unify.append(Path(os.environ["FAPIAOHUB_BENCH_UNIFY_FLOOR"]).read_bytes())
        return Response(unify[0], media_type="application/json")

    return app
