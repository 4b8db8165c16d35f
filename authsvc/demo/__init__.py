"""`authsvc demo`: the service plus a DEVELOPMENT identity provider. Imported only by the command
line (`cli.py`), never by the service itself.
"""
