"""Configuration: the case-file schema, TOML loading, ``--set`` overrides, safe expressions."""
