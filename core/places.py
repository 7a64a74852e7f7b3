"""Finding a municipality from what a person types, including old names and typos."""

from __future__ import annotations

from rapidfuzz import fuzz, process, utils

from core.catalogue.active import CatalogueView
from core.catalogue.schema import Municipality, Region


def _names(mun: Municipality) -> list[str]:
    names = [mun.name, *mun.aliases]
    if mun.center:
        names.append(mun.center)
    return names


def _normalise(text: str) -> str:
    return utils.default_process(text.replace("ё", "е").replace("Ё", "Е"))


def _choices(view: CatalogueView, region: Region) -> tuple[dict[int, str], list[Municipality]]:
    """Every name of the region's municipalities, normalised once per catalogue snapshot."""
    key = ("municipality_names", region.code)
    cached: tuple[dict[int, str], list[Municipality]] | None = view.memo.get(key)
    if cached is None:
        choices: dict[int, str] = {}
        owners: list[Municipality] = []
        for mun in region.municipalities:
            for name in _names(mun):
                choices[len(owners)] = _normalise(name)
                owners.append(mun)
        cached = view.memo[key] = (choices, owners)
    return cached


def find_municipalities(
    view: CatalogueView, region: Region, query: str, limit: int = 6
) -> list[Municipality]:
    """Best matches first; an exact name or alias wins outright."""
    needle = _normalise(query)
    if not needle:
        return []
    choices, owners = _choices(view, region)
    exact = [owners[i] for i, name in choices.items() if needle == name]
    if exact:
        return exact[:1]
    found: list[Municipality] = []
    for _, _score, i in process.extract(
        needle, choices, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=75
    ):
        if owners[i] not in found:
            found.append(owners[i])
    return found[:limit]
