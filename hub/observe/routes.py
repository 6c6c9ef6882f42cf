"""``/metrics`` (Prometheus) and ``/readyz``, open like ``/healthz``: no caller identity, since a
scraper or a load balancer holds no API key. They show counts and adapter names, never a message;
keep them on the operators' network (docs/metrics.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Response

from lienthong.errors import NotReadyError
from lienthong.observe.metrics import CONTENT_TYPE, MetricsMiddleware
from lienthong.observe.ready import readiness

if TYPE_CHECKING:
    from lienthong.compose import Hub


def observe(app: FastAPI, hub: Hub) -> None:
    """Serve ``/metrics`` and ``/readyz`` and count every request (``create_app``'s one line)."""
    app.include_router(observe_router(hub))
    app.add_middleware(MetricsMiddleware, metrics=hub.metrics)


def observe_router(hub: Hub) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text format: this process's counters, then the state read from the database."""
        return Response(hub.metrics.render(hub), media_type=CONTENT_TYPE)

    @router.get("/readyz", responses={503: {"description": "Not ready: the failed checks, as problem+json."}})
    def ready() -> dict[str, object]:
        """Ready for traffic: the database answers, its schema is current, the delivery workers this
        process started still run. 503 (problem+json, ``checks`` naming each) otherwise."""
        checks = readiness(hub)
        failed = [c for c in checks if not c.ok]
        if failed:
            raise NotReadyError(
                "; ".join(f"{c.name}: {c.detail}" for c in failed),
                detail={"checks": {c.name: c.as_dict() for c in checks}},
            )
        return {"status": "ready", "checks": {c.name: c.as_dict() for c in checks}}

    return router
