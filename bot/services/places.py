"""Finding a municipality from what a person types, including old names and typos."""

from __future__ import annotations

from rapidfuzz import fuzz, process, utils

from bot.catalogue.schema import Municipality, Region


def _names(mun: Municipality) -> list[str]:
    names = [mun.name, *mun.aliases]
    if mun.center:
        names.append(mun.center)
    return names


def find_municipalities(region: Region, query: str, limit: int = 6) -> list[Municipality]:
    """Best matches first; an exact name or alias wins outright."""
    needle = utils.default_process(query.replace("ё", "е").replace("Ё", "Е"))
    if not needle:
        return []
    choices: dict[int, str] = {}
    owners: list[Municipality] = []
    for mun in region.municipalities:
        for name in _names(mun):
            choices[len(owners)] = utils.default_process(name.replace("ё", "е").replace("Ё", "Е"))
            owners.append(mun)
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
