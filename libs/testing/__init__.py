"""Test infrastructure shared by the services' test suites.

`ports` hands out free loopback ports, `natsd` runs a throwaway nats-server
with JetStream, `postgres` a throwaway PostgreSQL cluster. Tests start what
they need in temporary directories on free ports, so a running suite and a
test run never collide (ARCHITECTURE.md, "Testing layers").
"""
