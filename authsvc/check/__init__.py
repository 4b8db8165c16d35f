"""`/oauth2/auth`, decided: forwarded (the original request) -> paths (public routes) -> rules
(global, per route) -> headers (the identity, injectively encoded).

Nothing here does I/O or knows about HTTP frameworks: the edge (`web/auth.py`) reads the ASGI
scope, the session loader (`sessions/loader.py`) finds the session, and these modules decide.
"""
