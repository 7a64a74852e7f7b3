"""Pydantic models of the catalogue YAML files (PRODUCT.md §5)."""

from __future__ import annotations

import datetime as dt
import math
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")]
RegionCode = Annotated[str, StringConstraints(pattern=r"^RU-[A-Z]{2,3}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Strict(BaseModel):
    """Unknown keys are typos in a hand-written file, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(StrEnum):
    FEDERAL = "federal"
    REGIONAL = "regional"
    NGO = "ngo"


class Channel(StrEnum):
    """Where a family applies; shown as a short label on the card."""

    GOSUSLUGI = "gosuslugi"
    SFR = "sfr"
    MFC = "mfc"
    FNS = "fns"
    BANK = "bank"
    EMPLOYER = "employer"
    SOCIAL_PROTECTION = "social_protection"
    EMPLOYMENT_CENTER = "employment_center"
    ORGANIZATION = "organization"
    PHONE = "phone"


class SourceKind(StrEnum):
    """What a source is, so a card can name it truthfully (PRODUCT.md §5)."""

    ACT = "act"  # the text of a law, decree or order (incl. legal databases quoting it)
    OFFICIAL = "official"  # a page of a state body, the СФР, an МФЦ or a prosecutor's office
    PRESS = "press"  # a news outlet, even one quoting an official body
    OTHER = "other"  # anything else: blogs, aggregators, an organisation's own site


# A measure checked longer ago than this is stale: the card warns, the digest lists it.
STALE_AFTER = dt.timedelta(days=180)


class OrgKind(StrEnum):
    NGO = "ngo"
    STATE = "state"
    BUSINESS = "business"
    HOTLINE = "hotline"
    MEDIA = "media"


class ConsultationFormat(StrEnum):
    ONLINE = "online"
    PHONE = "phone"
    IN_PERSON = "in_person"


# --- regions.yaml -------------------------------------------------------------------------


class SubsistenceMinimum(Strict):
    """Regional прожиточный минимум, rubles a month; thresholds of many measures."""

    year: int = Field(ge=2020, le=2100)
    per_capita: int = Field(gt=0)
    working_age: int = Field(gt=0)
    pensioner: int = Field(gt=0)
    child: int = Field(gt=0)
    source_url: HttpUrl


class Municipality(Strict):
    id: Slug
    name: Text
    name_en: Text
    kind: Literal["city_district", "municipal_district", "municipal_okrug", "city"]
    center: str | None = None
    oktmo: str | None = None
    # Old or colloquial names people still type ("Мичуринский район", "Балашиха-2").
    aliases: list[Text] = []
    # Rosstat's estimate (1 Jan 2024): puts the largest towns first in lists people page through.
    population: int | None = Field(default=None, ge=0)


class Region(Strict):
    code: RegionCode
    name: Text
    name_en: Text
    timezone: str
    subsistence_minimum: SubsistenceMinimum
    ministry: Text | None = None
    ministry_url: HttpUrl | None = None
    # The municipality of the regional centre (id), first in every list; none in law for some.
    capital: Slug | None = None
    municipalities: list[Municipality] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value


class RegionsFile(Strict):
    regions: list[Region] = Field(min_length=1)


# --- needs.yaml ---------------------------------------------------------------------------


class Need(Strict):
    id: Slug
    title: Text
    title_en: Text
    emoji: str = ""
    # Words families really type for this need, in Russian: inflected forms are handled by
    # the stemmer, so list distinct words and colloquialisms, not every case ending.
    synonyms: list[Text] = Field(min_length=1)


class NeedsFile(Strict):
    needs: list[Need] = Field(min_length=1)


# --- measures/*.yaml ----------------------------------------------------------------------


class IncomeOp(StrEnum):
    """How the law words an income threshold."""

    LE = "le"  # «не превышает»: at the threshold the family qualifies
    LT = "lt"  # «ниже», «меньше»: at the threshold it does not
    # Sources word it both ways: at exactly the threshold the verdict is "maybe".
    UNCLEAR = "unclear"


class ExtraCheck(StrEnum):
    """A condition of the law the family profile cannot express: the verdict stays "maybe"."""

    EARLY_REGISTRATION = "early_registration"  # на учёте в ранние сроки (до 12 недель)
    INSURANCE_RECORD = "insurance_record"  # страховой стаж и пенсионные баллы
    INSURED = "insured"  # застрахована в СФР (работа, учёба очно, увольнение при ликвидации)
    MORTGAGE_TERMS = "mortgage_terms"  # договор ипотеки и жильё подходят под условия
    FIRST_MORTGAGE = "first_mortgage"  # семья ещё не брала льготную ипотеку
    NOT_USED_BEFORE = "not_used_before"  # семья ещё не получала эту меру
    TAX_RESIDENT = "tax_resident"  # доход с НДФЛ в прошлом году
    LOCAL_BIRTH_REGISTRATION = "local_birth_registration"  # рождение записано в ЗАГС региона
    WITHIN_DEADLINE = "within_deadline"  # заявление в срок
    LOW_INCOME_STATUS = "low_income_status"  # статус малоимущей семьи (порог не опубликован)
    SCHOOL = "school"  # ребёнок учится в школе
    LAND_QUEUE = "land_queue"  # семья стоит в очереди на участок
    SMALL_TOWN = "small_town"  # город до 50 тысяч жителей или регион из особого перечня
    RESIDENCE_PERMIT_702 = "residence_permit_702"  # ВНЖ по Указу № 702
    WORK_OR_STUDY_3Y = "work_or_study_3y"  # работа или очная учёба 3 года из последних 5
    PARTNER_AGE = "partner_age"  # второму родителю тоже не больше 35 лет
    DISABILITY_GROUP_1 = "disability_group_1"  # инвалид с детства I группы
    ON_CHILDCARE_LEAVE = "on_childcare_leave"  # в отпуске по уходу за ребёнком
    FULL_TIME_STUDY = "full_time_study"  # учится очно
    AWARD_DECISION = "award_decision"  # награду дают по представлению, а не по заявлению


class ChildRule(Strict):
    """What one child must be; every set field must hold, `any_of` holds if one does.

    Ages are exact: `age_under: 18` is «до 18 лет» (until the 18th birthday), `age_max_incl: 35`
    is «до 35 лет включительно» (until the 36th birthday), `age_min: 8` is «от 8 лет».
    """

    age_min: float | None = Field(default=None, ge=0, le=60)
    age_under: float | None = Field(default=None, gt=0, le=60)
    # «не позднее 6 месяцев», «по день исполнения 1,5 лет»: the anniversary day is included.
    age_at_most: float | None = Field(default=None, gt=0, le=60)
    age_max_incl: int | None = Field(default=None, ge=0, le=60)
    born_from: dt.date | None = None
    born_to: dt.date | None = None
    disabled: bool | None = None
    full_time_student: bool | None = None
    any_of: list[ChildRule] = []

    @model_validator(mode="after")
    def _not_empty(self) -> ChildRule:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a child rule needs at least one condition")
        if self.born_from and self.born_to and self.born_from > self.born_to:
            raise ValueError("born_from is after born_to")
        return self


class ChildCount(Strict):
    """At least `min` children matching `where` («трое детей до 18 лет»)."""

    min: int = Field(ge=1, le=20)
    where: ChildRule | None = None


class NthChild(Strict):
    """The `from`-th or a later child (by birth order) matches `where` («третий или
    последующий ребёнок, рождённый с 2019-01-01 по 2030-12-31»)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: int = Field(alias="from", ge=2, le=20)
    where: ChildRule | None = None


class Income(Strict):
    """Income per person against a multiple of the regional per-capita subsistence minimum."""

    max_pm: float = Field(gt=0, le=10)
    op: IncomeOp


class Conditions(Strict):
    """Structured eligibility: every set field must hold (AND); `any_of` holds if one does.

    A field the family did not answer never excludes a measure: it turns the verdict into
    "maybe" with a reason that says what to check. See README «Правила мер».
    """

    citizen: bool | None = None
    citizenship_years_min: int | None = Field(default=None, ge=1, le=30)
    years_in_region_min: int | None = Field(default=None, ge=1, le=30)
    pregnant: bool | None = None
    pregnancy_weeks_min: int | None = Field(default=None, ge=1, le=42)
    pregnancy_weeks_max: int | None = Field(default=None, ge=1, le=42)
    # Some child matches; at least `min` children match; a later child matches.
    child: ChildRule | None = None
    children: ChildCount | None = None
    nth_child: NthChild | None = None
    # Every child matches («пока старшему ребёнку нет 18 лет»); no children fails.
    every_child: ChildRule | None = None
    youngest_child_age_min: float | None = Field(default=None, gt=0, le=25)
    # Paid for a born child: a pregnant woman without children is told "after the birth".
    after_birth: bool | None = None
    income: Income | None = None
    student: bool | None = None
    employed: bool | None = None
    carer_employed: bool | None = None
    single_parent: bool | None = None
    has_mortgage: bool | None = None
    # Mother's age in completed years: «до 35 лет включительно» is mother_age_max_incl: 35.
    mother_age_max_incl: int | None = Field(default=None, ge=14, le=80)
    mother_age_min: int | None = Field(default=None, ge=14, le=80)
    # The mother's age limit holds on the youngest child's birthday, not today.
    mother_age_at_birth: bool = False
    # RF citizenship already on the youngest child's birthday (needs citizenship_years).
    citizen_at_child_birth: bool = False
    # Given once per family: a family whose `receiving` lists the measure is not eligible.
    once: bool = False
    # Only kept by a family already receiving the measure (its id in `receiving`).
    already_receiving: bool = False
    extra_checks: list[ExtraCheck] = []
    # The facts behind the measure are unverified or conflicting: never "eligible".
    unconfirmed: bool = False
    any_of: list[Conditions] = []

    @model_validator(mode="after")
    def _consistent(self) -> Conditions:
        low, high = self.pregnancy_weeks_min, self.pregnancy_weeks_max
        if low is not None and high is not None and low > high:
            raise ValueError("pregnancy_weeks_min is above pregnancy_weeks_max")
        return self


def _child_rules(rules: Conditions) -> list[ChildRule]:
    found = [
        r for r in (rules.child, rules.every_child, rules.children and rules.children.where) if r
    ]
    if rules.nth_child is not None and rules.nth_child.where is not None:
        found.append(rules.nth_child.where)
    for alternative in rules.any_of:
        found.extend(_child_rules(alternative))
    out: list[ChildRule] = []
    while found:
        rule = found.pop()
        out.append(rule)
        found.extend(rule.any_of)
    return out


def rule_problems(rules: Conditions) -> list[str]:
    """Contradictions a schema check cannot see: an age window nobody can be in."""
    problems = []
    for child in _child_rules(rules):
        high = child.age_under or child.age_at_most
        if child.age_max_incl is not None:
            high = min(high or math.inf, child.age_max_incl + 1)
        if child.age_min is not None and high is not None and high <= child.age_min:
            problems.append(f"child age window {child.age_min}..{high} is empty")
    return problems


class Eligibility(Strict):
    explanation: Text
    explanation_en: Text
    rules: Conditions = Conditions()


class Amount(Strict):
    text: Text
    text_en: Text
    value: float | None = Field(default=None, ge=0)
    as_of: dt.date


class HowToApply(Strict):
    channels: list[Channel] = Field(min_length=1)
    steps: list[Text] = Field(min_length=1)
    steps_en: list[Text] = Field(min_length=1)


class Source(Strict):
    url: HttpUrl
    kind: SourceKind = SourceKind.OTHER
    # Publication date of the source; None when the source carries none.
    source_date: dt.date | None = None


def _both_languages(ru: str | None, en: str | None) -> None:
    if (ru is None) != (en is None):
        raise ValueError("a note needs both note and note_en")


class DeadlineEvent(StrEnum):
    """What an application term is counted from («не позднее 6 месяцев со дня рождения»)."""

    BIRTH = "birth"


class ApplyWithin(Strict):
    """The law's term for applying, counted from an event: `{months: 6, after: birth}`.

    Set only where a source states one; `note` says what the single number cannot (a term
    that differs for some families, sources that disagree).
    """

    months: int = Field(ge=1, le=120)
    after: DeadlineEvent = DeadlineEvent.BIRTH
    note: Text | None = None
    note_en: Text | None = None

    @model_validator(mode="after")
    def _note_in_both(self) -> ApplyWithin:
        _both_languages(self.note, self.note_en)
        return self


MonthDay = Annotated[str, StringConstraints(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]


class ApplyWindow(Strict):
    """Applications accepted every year up to `closes` (included), from `opens` if the law
    sets a start («с 1 июня по 1 октября»); days as "MM-DD"."""

    opens: MonthDay | None = None
    closes: MonthDay
    note: Text | None = None
    note_en: Text | None = None

    @model_validator(mode="after")
    def _real_days(self) -> ApplyWindow:
        for value in (self.opens, self.closes):
            if value is not None:
                month, day = (int(part) for part in value.split("-"))
                dt.date(2001, month, day)  # a non-leap year: "02-29" would vanish in most
        if self.opens is not None and self.opens >= self.closes:
            raise ValueError("opens must come before closes within the year")
        _both_languages(self.note, self.note_en)
        return self


class Measure(Strict):
    """A support measure.

    Provenance: `source_url` with its `source_kind` and `source_date` is the main source,
    `more_sources` any others. `checked_on` is the day someone compared the entry with an
    official source; None means nobody has. Older files had `verified_on`, which always held
    the main source's publication date, so it is read as `source_date` (never as a check).
    """

    id: Slug
    title: Text
    title_en: Text
    summary: Text
    summary_en: Text
    level: Level
    region: RegionCode | None = None
    organization: Slug | None = None
    needs: list[Slug] = Field(min_length=1)
    # Colloquial names and words people search with (маткапитал, декретные, многодетка).
    keywords: list[Text] = []
    eligibility: Eligibility
    amount: Amount
    documents: list[Text] = Field(min_length=1)
    documents_en: list[Text] = Field(min_length=1)
    how_to_apply: HowToApply
    apply_url: HttpUrl
    legal_basis: Text
    source_url: HttpUrl
    source_kind: SourceKind = SourceKind.OTHER
    source_date: dt.date | None = None
    checked_on: dt.date | None = None
    more_sources: list[Source] = []
    # Shown on the card when a fact is unconfirmed or sources conflict.
    caution: Text | None = None
    caution_en: Text | None = None
    demo: bool = False
    # The application deadline where the law has one (a term after an event, a yearly window).
    apply_within: ApplyWithin | None = None
    apply_window: ApplyWindow | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_verified_on(cls, data: object) -> object:
        if isinstance(data, dict) and "verified_on" in data:
            data = dict(data)
            verified_on = data.pop("verified_on")
            if data.get("source_date") is None:
                data["source_date"] = verified_on
        return data

    @property
    def sources(self) -> list[Source]:
        main = Source(url=self.source_url, kind=self.source_kind, source_date=self.source_date)
        return [main, *self.more_sources]

    def check_state(self, today: dt.date) -> CheckState:
        """Unchecked, stale (checked more than STALE_AFTER before `today`) or fresh.

        A check dated after `today` had not happened yet on that day (a past week's digest).
        """
        if self.checked_on is None or self.checked_on > today:
            return CheckState.UNCHECKED
        if self.checked_on < today - STALE_AFTER:
            return CheckState.STALE
        return CheckState.FRESH

    @model_validator(mode="after")
    def _unconfirmed_says_so(self) -> Measure:
        if self.eligibility.rules.unconfirmed and not (self.caution and self.caution_en):
            raise ValueError("rules marked unconfirmed need a caution (ru and en) on the card")
        return self


class CheckState(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    UNCHECKED = "unchecked"


class MeasuresFile(Strict):
    measures: list[Measure] = Field(min_length=1)


# --- organizations/*.yaml -----------------------------------------------------------------


class Contacts(Strict):
    phone: str | None = None
    website: HttpUrl | None = None
    email: str | None = None
    address: str | None = None
    hours: str | None = None


class Consultation(Strict):
    id: Slug
    title: Text
    title_en: Text
    need: Slug
    format: ConsultationFormat
    description: Text
    description_en: Text
    duration_minutes: int = Field(default=45, ge=10, le=240)
    free: bool = True


class Organization(Strict):
    id: Slug
    name: Text
    name_en: Text
    kind: OrgKind
    region: RegionCode
    description: Text
    description_en: Text
    needs: list[Slug] = Field(min_length=1)
    # Municipality ids, or the single value "all" for the whole region.
    municipalities: list[str] = Field(min_length=1)
    # How many open referrals the organisation takes at once; 0 = does not take referrals
    # (a hotline, a state body that is only a reference).
    capacity: int = Field(default=10, ge=0, le=10_000)
    contacts: Contacts = Contacts()
    consultations: list[Consultation] = []
    keywords: list[Text] = []
    source_url: HttpUrl | None = None
    verified_on: dt.date
    demo: bool = False


class OrganizationsFile(Strict):
    organizations: list[Organization] = Field(min_length=1)


FEDERAL_MEASURE_IDS = (
    "fed-matcap",
    "fed-matcap-monthly",
    "fed-unified-allowance-children",
    "fed-unified-allowance-pregnancy",
    "fed-maternity-benefit",
    "fed-birth-grant",
    "fed-childcare-allowance",
    "fed-large-family-mortgage-450k",
    "fed-family-mortgage",
    "fed-child-tax-deduction",
    "fed-family-tax-payment",
    "fed-large-family-status",
    "fed-large-family-tax-relief",
    "fed-large-family-early-pension",
    "fed-disabled-child-care-payment",
    "fed-disabled-child-social-pension",
    "fed-disabled-child-extra-days-off",
    "fed-social-contract",
    "fed-parent-retraining",
    "fed-large-family-awards",
    "fed-free-legal-aid",
)
