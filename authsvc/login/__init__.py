"""The browser login: /start, /callback, /sign_in, /sign_out (and the IdP's end-session), /userinfo.

`flows.py` holds the endpoints; `state.py` the login-state cookie codec and its replay memory;
`redirects.py` the `rd` policy; `signout.py` RP-initiated logout.
"""
