"""The whole bus on one page: one module per owning service.

Each module declares its subjects as constants and its request, reply and
event payloads as frozen, versioned pydantic models. Services import these
modules to talk to each other and never import `services.<other>`.
"""
