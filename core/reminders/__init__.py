"""Reminders a family opted into: dated ones from its profile and plan, and new help.

`kinds` names them, `dates` says which are due on a day (pure), `consent` keeps the opt-in
and the mutes, `job` queues the day's reminders through the outbox (each at most once),
`new_help` tells families about catalogue changes that now fit them, `figures` counts what the
digest shows.
"""
