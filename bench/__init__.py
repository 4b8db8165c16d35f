"""The /oauth2/auth benchmark: `python -m bench` (see bench/README.md)."""
