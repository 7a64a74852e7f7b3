"""The catalogue as code: YAML files in content/, their schema, checks and loading.

`schema` (the entries' shape), `files` and `loader` (content/ into the database), `active` (the
in-memory view every update reads), `edit` (writing entries), `sheet/` (a region's catalogue as
a spreadsheet: export, checked import, restore).
"""
