"""Text to stems: normalising, keyboard layout and look-alike letters, stop words, Russian
snowball stemming with fixes.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

# A family's message can be a pasted document; nothing past this changes the answer.
MAX_QUERY_CHARS = 2_000
MAX_QUERY_TOKENS = 32
MIN_FUZZY_LEN = 4

_TOKEN_RE = re.compile(r"[0-9a-zа-я]+")
_CYRILLIC_RE = re.compile(r"[а-я]")
_LATIN_RE = re.compile(r"[a-z]")

# Latin letters that look Cyrillic: "мaткапитал" typed with a Latin "a" is still маткапитал.
_HOMOGLYPHS = str.maketrans("aeopcxyk", "аеорсхук")

# Text typed with the English keyboard layout switched on: "vfnrfgbnfk" is "маткапитал".
LAYOUT = str.maketrans(
    "qwertyuiop[]asdfghjkl;'zxcvbnm,.`",
    "йцукенгшщзхъфывапролджэячсмитьбюё",
)

_STOP_TEXT = """
    а и в во на за к ко с со о об обо от до по для из изо у не ни ли же бы б ль
    как что чтобы чтоб мне меня мной мой моя мое мои моих моим нам нас наш наша наше наши
    я ты вы вам вас он она оно они его ее их им ему ей ней него них нем
    где куда откуда когда зачем почему какой какая какое какие каких каким кто кого кому
    это этот эта эти этого этой там тут здесь есть нет был была было были будет
    или но да так уже еще очень можно нужно нужен нужна нужны надо хочу хотим хотела могу
    то тот та те все всё весь вся при про без под над через если ведь вот бы либо
    помогите подскажите пожалуйста скажите пожалуйста подскажи помоги
    получить получать оформить узнать положено полагается
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

# Fleeting vowels and stems the Russian snowball stemmer splits although they are one word.
_STEM_FIXES = {
    "ребенок": "ребенк",
    "отец": "отц",
    "матер": "мат",
    "дочер": "доч",
}

# Pronoun adverbs the stemmer would merge: "нечем платить" is not "нечего есть".
_WORD_STEMS = {w: w for w in ("нечего", "нечем", "некуда", "негде", "некому", "некогда")}

# Stop words for ranking, but a need phrase keeps them: "без мужа" is not "муж бьёт",
# "нет сил" is not "сила".
NEGATIONS = frozenset(("не", "нет", "без", "ни"))

_STEMMER = snowballstemmer.stemmer("russian")


@lru_cache(maxsize=65_536)
def stem_word(token: str) -> str:
    if not token.isalpha() or token.isascii():
        return token  # numbers and Latin words are kept as typed
    if token in _WORD_STEMS:
        return _WORD_STEMS[token]
    # "многодетныи" for "многодетный": adjectives typed without the breve.
    if len(token) >= 5 and token[-2:] in ("ыи", "ои"):
        token = token[:-1] + "й"
    stem = str(_STEMMER.stemWord(token))
    return _STEM_FIXES.get(stem, stem)


def normalize_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


def _fold_token(token: str) -> str:
    if _CYRILLIC_RE.search(token) and _LATIN_RE.search(token):
        return token.translate(_HOMOGLYPHS)
    return token


def split_words(normalized: str) -> list[str]:
    return [_fold_token(t) for t in _TOKEN_RE.findall(normalized)]


def analyze(text: str) -> list[str]:
    """Text to the stems the index holds: lowercase, ё→е, no stop words, Russian snowball."""
    return [stem_word(w) for w in split_words(normalize_text(text)) if w not in STOP_WORDS]


def need_phrase_stems(text: str) -> list[str]:
    return [
        stem_word(w)
        for w in split_words(normalize_text(text))
        if w not in STOP_WORDS or w in NEGATIONS
    ]
