"""The IMAP4rev1/IMAP4rev2 front end (RFC 3501, RFC 9051) over the storage service.

So far this holds the sans-I/O protocol core (``protocol/``); the transport and
the service layer that executes commands against storage come next.
"""
