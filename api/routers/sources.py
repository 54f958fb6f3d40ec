"""/sources: the registered sources in `best`'s rank order, with the attribution each asks for."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import SettingsDep
from api.headers import answer
from api.models import SourceInfo, SourcesResponse
from nebulastream.sources import registry

router = APIRouter(tags=["sources"])

# Registry facts and the priority change only with a deployment or a restart.
CACHE_CONTROL = "public, max-age=3600"


@router.get(
    "/sources",
    response_model=SourcesResponse,
    summary="The sources prices come from, in the order source=best prefers them",
)
def sources(settings: SettingsDep) -> Response:
    """Each source's registry name (the values of `source=`), its title, whether it serves
    point observations or candles, and the terms its data comes with."""
    ranked = [registry.spec(name) for name in settings.ranked_sources]
    items = [
        SourceInfo(
            source=spec.name,
            title=spec.title,
            kind="candles" if spec.window_kind == "candles" else "points",
            terms=spec.terms,
        )
        for spec in ranked
    ]
    return answer(SourcesResponse(sources=items), CACHE_CONTROL)
