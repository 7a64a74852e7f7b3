"""Pydantic models of the catalogue YAML files (PRODUCT.md §5)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator

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


class Conditions(Strict):
    """Structured eligibility: every set field must hold (AND); `any_of` holds if one does.

    A field the family did not answer never excludes a measure: it turns the verdict into
    "maybe" with a reason that says what to check.
    """

    citizen: bool | None = None
    pregnant: bool | None = None
    pregnancy_weeks_min: int | None = Field(default=None, ge=1, le=42)
    # Some child aged child_age_min <= age < child_age_max (years, fractions allowed).
    child_age_min: float | None = Field(default=None, ge=0, le=25)
    child_age_max: float | None = Field(default=None, gt=0, le=25)
    children_min: int | None = Field(default=None, ge=1, le=20)
    disabled_child: bool | None = None
    # Income per person below this multiple of the regional per-capita subsistence minimum.
    income_max_pm: float | None = Field(default=None, gt=0, le=10)
    student: bool | None = None
    employed: bool | None = None
    single_parent: bool | None = None
    has_mortgage: bool | None = None
    mother_age_max: int | None = Field(default=None, ge=14, le=60)
    any_of: list[Conditions] = []


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


class Measure(Strict):
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
    verified_on: dt.date
    # Shown on the card when a fact is unconfirmed or sources conflict.
    caution: Text | None = None
    caution_en: Text | None = None
    demo: bool = False


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
