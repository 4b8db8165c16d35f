"""`/oauth2/auth`, decided: forwarded (the original request) -> paths (public routes) -> rules
(global, per route; `decide.py` composes them) -> headers (the identity, injectively encoded).
Also oauth2-proxy's `trusted_ips` (`client_ip.py`) and Basic users (`htpasswd.py`).

Nothing here knows an HTTP framework or a session store: the edge (`web/auth.py`) reads the
ASGI scope, the session loader (`sessions/loader.py`) finds the session, and these modules
decide. Their only I/O is re-reading the e-mails and htpasswd files when they change.
"""
