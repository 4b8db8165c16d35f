"""`/oauth2/auth`, decided: forwarded (the original request) -> paths (public routes) -> rules
(global, per route; `decide.py` composes them) -> headers (the identity, injectively encoded).
Also oauth2-proxy's `trusted_ips` (`client_ip.py`) and Basic users (`htpasswd.py`).

Nothing here knows an HTTP framework or a session store: the edge (`web/auth.py`) reads the
ASGI scope, the session loader (`sessions/loader.py`) finds the session, and these modules
decide. Their only I/O is re-reading the e-mails and htpasswd files when they change.

The hot path: what repeats from check to check (a peer's trust, the proxy's header values, a
rule query, a session's encoded headers) is computed once and kept in a `BoundedMemo`
(authsvc/memo.py lists them all and says why clear-on-full is safe against sprays).
"""
