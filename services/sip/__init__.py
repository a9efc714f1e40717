"""The SIP front end (RFC 3261): registrar, proxy, presence and instant messages.

So far this holds the sans-I/O protocol core (``protocol/``): the message
parser and serializer and the transaction layer. The transports, the
registrar and the proxy come next.
"""
