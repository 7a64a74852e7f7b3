"""News to families: the news opt-in, broadcasts and surveys, all delivered through the outbox.

Only families who agreed to receive news (an unrevoked `news` consent) are ever chosen; the
outbox worker keeps Telegram's limits. A broadcast's messages are outbox rows tagged with its
id, so its progress and final report (sent, blocked, failed) are counted from those rows.

The rooms: `optin`, `audience` (who receives), `broadcasts`, `surveys`.
"""

from core.announcements.audience import (
    Audience,
    AudienceSize,
    Recipient,
    audience_size,
    needs_from_profile,
    recipients,
)
from core.announcements.broadcasts import (
    BROADCAST,
    BROADCAST_MEASURE,
    BROADCAST_REPORT,
    DONE,
    FORBIDDEN_PREFIX,
    SENDING,
    TEXT_LIMIT,
    BroadcastProgress,
    MeasureLink,
    broadcast_progress,
    create_broadcast,
    finish_broadcast,
    sending_broadcasts,
    set_progress_message,
)
from core.announcements.optin import NEWS_VERSION, news_subscribed, set_news
from core.announcements.surveys import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    OPTION_LIMIT,
    QUESTION_LIMIT,
    SURVEY,
    AnswerOutcome,
    SurveyResult,
    answer_survey,
    close_survey,
    create_survey,
    region_surveys,
    survey_result,
    survey_results,
)

__all__ = [
    "BROADCAST",
    "BROADCAST_MEASURE",
    "BROADCAST_REPORT",
    "DONE",
    "FORBIDDEN_PREFIX",
    "MAX_OPTIONS",
    "MIN_OPTIONS",
    "NEWS_VERSION",
    "OPTION_LIMIT",
    "QUESTION_LIMIT",
    "SENDING",
    "SURVEY",
    "TEXT_LIMIT",
    "AnswerOutcome",
    "Audience",
    "AudienceSize",
    "BroadcastProgress",
    "MeasureLink",
    "Recipient",
    "SurveyResult",
    "answer_survey",
    "audience_size",
    "broadcast_progress",
    "close_survey",
    "create_broadcast",
    "create_survey",
    "finish_broadcast",
    "needs_from_profile",
    "news_subscribed",
    "recipients",
    "region_surveys",
    "sending_broadcasts",
    "set_news",
    "set_progress_message",
    "survey_result",
    "survey_results",
]
