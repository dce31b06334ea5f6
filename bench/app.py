"""The server under benchmark: fapiaohub's app plus a floor route that returns, from memory, the
bytes the real endpoint answered (FAPIAOHUB_BENCH_FLOOR names the file holding them)."""

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

    return app
