"""The browser login: /start, /callback, /sign_in, /sign_out (and the IdP's end-session), /userinfo.

`flows.py` holds the endpoints; `state.py` the login-state cookie codec, its slots and the
spent states; `redirects.py` the `rd` policy; `params.py` extra authorization parameters;
`signout.py` RP-initiated and backend logout.
"""
