"""Search texts as they may be kept: without the names and numbers people type into them.

A family looking for help often types who they are («Иванова Мария Петровна 89161234567»).
What the digest needs is the topic, so before a query is logged this drops e-mails, links,
phone numbers and any run of five or more digits, and capitalised words after the first (a
name, a patronymic, an address: «для Кукушкиной»). What is left is lowercased. Names typed in
lower case cannot be told from words, which is why the digest also shows a query only when
several families asked it.
"""

from __future__ import annotations

import re

_UPPER = "A-ZА-ЯЁ"
_LOWER = "a-zа-яё"
_EMAIL_OR_LINK = re.compile(r"\S+@\S+|https?://\S+|www\.\S+|@\w+", re.IGNORECASE)
# Five or more digits, however grouped: phones, passport and SNILS numbers, card numbers.
_DIGITS = re.compile(r"\+?\(?\d(?:[\s\-().]*\d){4,}")
_CAPITALISED = re.compile(rf"[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}]?[{_LOWER}]+)*")
_INITIALS = re.compile(rf"[{_UPPER}]\.(?:[{_UPPER}]\.?)?")
_PUNCTUATION = ",;:!?«»\"'()"
_PATRONYMIC = re.compile(rf"[{_LOWER}]+(?:ович|евич|ьич|овна|евна|ична|инична)$", re.IGNORECASE)


def redact_query(text: str, limit: int = 500) -> str:
    """The query without what could name or reach a person, lowercased; may be empty."""
    tokens = [
        t.strip(_PUNCTUATION) for t in _DIGITS.sub(" ", _EMAIL_OR_LINK.sub(" ", text)).split()
    ]
    tokens = [token for token in tokens if token.strip(".")]
    kept: list[str] = []
    for index, token in enumerate(tokens):
        if _INITIALS.fullmatch(token) or _PATRONYMIC.match(token.rstrip(".")):
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if _is_name(token) and (index > 0 or _is_name(following)):
            continue
        kept.append(token.rstrip(".").lower())
    return " ".join(kept)[:limit].strip()


def _is_name(token: str) -> bool:
    """Capitalised like a name (or initials); «МФЦ» and «пособие» are not."""
    return bool(_CAPITALISED.fullmatch(token.rstrip(".")) or _INITIALS.fullmatch(token))
