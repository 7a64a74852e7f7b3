"""Finding a municipality from what a person types, including old names and typos."""

from __future__ import annotations

from rapidfuzz import fuzz, process, utils

from bot.catalogue.schema import Municipality, Region


def _names(mun: Municipality) -> list[str]:
    names = [mun.name, *mun.aliases]
    if mun.center:
        names.append(mun.center)
    return names


def _normalise(text: str) -> str:
    return utils.default_process(text.replace("ё", "е").replace("Ё", "Е"))


# Names prepared once per region object: the catalogue replaces regions, never edits them.
_prepared: dict[int, tuple[Region, dict[int, str], list[Municipality]]] = {}


def _choices(region: Region) -> tuple[dict[int, str], list[Municipality]]:
    cached = _prepared.get(id(region))
    if cached is not None and cached[0] is region:
        return cached[1], cached[2]
    choices: dict[int, str] = {}
    owners: list[Municipality] = []
    for mun in region.municipalities:
        for name in _names(mun):
            choices[len(owners)] = _normalise(name)
            owners.append(mun)
    if len(_prepared) > 64:  # old catalogue snapshots
        _prepared.clear()
    _prepared[id(region)] = (region, choices, owners)
    return choices, owners


def find_municipalities(region: Region, query: str, limit: int = 6) -> list[Municipality]:
    """Best matches first; an exact name or alias wins outright."""
    needle = _normalise(query)
    if not needle:
        return []
    choices, owners = _choices(region)
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
