"""The IMAP4rev1/IMAP4rev2 front end (RFC 3501, RFC 9051) over the storage service."""
