"""TTS model ids, their sunsets and language limits, as of the emulated day.

Sunsets apply to every ``Cartesia-Version`` [C-changes]. The schedule:

- 2026-06-01 [C-changes][C-changes-ja]: ``sonic`` (every snapshot), ``sonic-english``,
  ``sonic-multilingual``, ``sonic-2-2025-03-07`` and ``sonic-turbo-2025-03-07`` stop
  serving; the other ``sonic-2`` snapshots keep only en, de, es, fr, ja, ko, pt, zh
  and ``sonic-turbo-2025-06-04`` those plus hi.
- After 2026-10-20: ``sonic-2``, ``sonic-turbo`` (every snapshot) and
  ``sonic-3-2025-10-27`` are sunset. This is from the July 2026 changelog and the
  api-changes page as read in September 2026 ("Sonic-2, Sonic-turbo, and
  Sonic-3-2025-10-27 will be sunsetted after October 20, 2026"), known here only
  through three third-party projects that quote it; the stored Cartesia pages are
  older. The sources disagree by age, not in substance, so the emulator takes the
  stricter, newer schedule: on the default day (2026-12-03) those ids answer
  ``model_sunsetted``. Set ``Emulator.today`` earlier to get the June–October state.

A sunset model answers 400 ``model_sunsetted`` with the docs' title and message
[C-changes-ja]; the status is not shown anywhere, so it is the one ``model_not_found``
(its sibling) has. A language a still-served snapshot no longer speaks answers 400
``language_not_supported``: no source shows that case, but third-party clients list
``language_not_supported`` among Cartesia's error codes next to ``model_sunsetted``,
and a snapshot that still serves is not itself sunset.

Unknown ids, including dated ids of snapshots that never existed, are 400
``model_not_found`` "Invalid model" (the OAS and 2024-11-13 docs example).
``sonic-preview`` is left out: nothing says what it serves today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .errors import ApiError

# The emulated "today": the service as it is on this day.
SERVICE_DATE = dt.date(2026, 12, 3)

JUNE_SUNSET = dt.date(2026, 6, 1)
OCTOBER_SUNSET = dt.date(2026, 10, 21)  # "sunsetted after October 20, 2026"
API_CHANGES_URL = "https://docs.cartesia.ai/build-with-cartesia/tts-models/api-changes"

# The languages of the sonic-3 family: the SDK's SupportedLanguage (4.2.0), 44 codes;
# the docs say 42 for sonic-3 and sonic-3.5 without listing which two are newer.
_LANGUAGE_WORDS = (
    "en fr de es pt zh ja hi it ko nl pl ru sv tr tl bg ro ar cs el fi hr ms sk da ta "
    "uk hu no vi bn th he ka id te gu kn ml mr pa or ur"
)
SUPPORTED_LANGUAGES = frozenset(_LANGUAGE_WORDS.split())
_KEPT_WORDS, _DROPPED_WORDS = "en de es fr ja ko pt zh", "hi it nl pl ru sv tr"
_SONIC_2_KEPT = frozenset(_KEPT_WORDS.split())
_TURBO_KEPT = _SONIC_2_KEPT | {"hi"}
_SONIC_2_LANGUAGES = _SONIC_2_KEPT | frozenset(_DROPPED_WORDS.split())


@dataclass(frozen=True)
class Model:
    id: str
    languages: frozenset[str]
    sunset: dt.date | None = None  # first day it no longer serves
    reduced: tuple[dt.date, frozenset[str]] | None = None  # from that day, only those

    def languages_on(self, today: dt.date) -> frozenset[str]:
        if self.reduced is not None and today >= self.reduced[0]:
            return self.reduced[1]
        return self.languages


def _catalogue() -> dict[str, Model]:
    models = [
        Model(mid, SUPPORTED_LANGUAGES)
        for mid in (
            "sonic-3",
            "sonic-3-2026-01-12",
            "sonic-3.5",
            "sonic-3.5-2026-05-04",
            "sonic-3.6",
            "sonic-3.6-2026-08-27",
            "sonic-3-latest",
            "sonic-latest",
        )
    ]
    models.append(Model("sonic-3-2025-10-27", SUPPORTED_LANGUAGES, OCTOBER_SUNSET))
    june = ("sonic", "sonic-2024-10-19", "sonic-2024-12-12", "sonic-english", "sonic-multilingual")
    models += [Model(mid, _SONIC_2_LANGUAGES, JUNE_SUNSET) for mid in june]
    models += [
        Model(mid, _SONIC_2_LANGUAGES, JUNE_SUNSET)
        for mid in ("sonic-2-2025-03-07", "sonic-turbo-2025-03-07")
    ]
    for mid in ("sonic-2", "sonic-2-2025-04-16", "sonic-2-2025-05-08", "sonic-2-2025-06-11"):
        models.append(Model(mid, _SONIC_2_LANGUAGES, OCTOBER_SUNSET, (JUNE_SUNSET, _SONIC_2_KEPT)))
    for mid in ("sonic-turbo", "sonic-turbo-2025-06-04"):
        models.append(Model(mid, _SONIC_2_LANGUAGES, OCTOBER_SUNSET, (JUNE_SUNSET, _TURBO_KEPT)))
    return {m.id: m for m in models}


MODELS = _catalogue()


def current_models(today: dt.date = SERVICE_DATE) -> frozenset[str]:
    """The model ids that serve requests on ``today``."""
    return frozenset(m.id for m in MODELS.values() if m.sunset is None or today < m.sunset)


def invalid_model() -> ApiError:
    # The OAS example: 400, error_code model_not_found, title "Invalid model".
    return ApiError(
        400,
        "Invalid model",
        "The model is not valid, make sure it is a valid model ID.",
        "model_not_found",
    )


def model_sunsetted() -> ApiError:
    # The body [C-changes-ja] shows; doc_url is optional (DOCS api-errors).
    return ApiError(
        400,
        "Model sunsetted",
        "The requested model has been sunsetted and is no longer available.",
        "model_sunsetted",
        doc_url=API_CHANGES_URL,
    )


def check_model(raw: object, language: str | None, today: dt.date) -> str:
    """The model id if it serves ``language`` on ``today``; else the ApiError to answer."""
    model = MODELS.get(raw) if isinstance(raw, str) else None
    if model is None:
        raise invalid_model()
    if model.sunset is not None and today >= model.sunset:
        raise model_sunsetted()
    languages = model.languages_on(today)
    if language is not None and language not in languages:
        raise ApiError(
            400,
            "Language not supported",
            f"Model {model.id} does not support language {language!r}; "
            f"it supports {', '.join(sorted(languages))}.",
            "language_not_supported",
        )
    return model.id
