"""The HTTP edge: the app factory, the fast /oauth2/auth entry, responses, metrics, logs, and the
back-channel logout endpoint. Flows below it never build responses for /oauth2/auth themselves.
"""
