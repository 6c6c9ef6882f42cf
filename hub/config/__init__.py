"""Configuration: the typed models, reading the YAML files (errors with file:line), and the
reference generated from the models."""
