"""The catalogue as code: YAML files in content/, their schema, checks and loading."""
