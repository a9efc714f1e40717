"""The IMAP4rev1/IMAP4rev2 front end (RFC 3501, RFC 9051) over the storage service.

``protocol/`` is the sans-I/O core; ``transport`` runs it on sockets;
``_mailboxes`` and ``_messages`` execute commands against storage (all
storage calls go through ``_store``) and the blob store (``_fetch``);
``main`` builds it all. docs/imap.md describes the behaviour and settings.
"""
