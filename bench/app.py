"""The server under benchmark: fapiaohub's app plus floor routes that return, from memory, the
bytes the real endpoint answered (FAPIAOHUB_BENCH_FLOOR and FAPIAOHUB_BENCH_UNIFY_FLOOR name the
files holding them: a collection page, ten unify batches)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

from fapiaohub.api.app import create_app
from fapiaohub.api.observe import NamedRoute


def create_bench_app() -> FastAPI:
    app = create_app()
    cached: list[bytes] = []

    # plain routes, as the endpoints they are the floors of (api/app.py): the same routing and
    # request handling, only the endpoint's own work left out
    async def floor(_: Request) -> Response:
        if not cached:  # read once; every later request is served from memory
            cached.append(Path(os.environ["FAPIAOHUB_BENCH_FLOOR"]).read_bytes())
        return Response(cached[0], media_type="application/json")

    unify: list[bytes] = []

    async def unify_floor(_: Request) -> Response:
        if not unify:
            unify.append(Path(os.environ["FAPIAOHUB_BENCH_UNIFY_FLOOR"]).read_bytes())
        return Response(unify[0], media_type="application/json")

    # matched right before the endpoints (a route matched earlier costs less: never the endpoint's favour)
    first_read = next(n for n, route in enumerate(app.router.routes) if isinstance(route, NamedRoute))
    app.router.routes[first_read:first_read] = [NamedRoute("/bench/floor", floor, methods=["POST"]),
                                                NamedRoute("/bench/floor/unify", unify_floor, methods=["GET"])]
    return app
