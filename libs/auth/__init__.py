"""Credential primitives shared by the directory (which stores secrets) and the
front ends (which speak SASL and digest to clients)."""
