"""The `parley` command: run the suite (`up`, `status`, `migrate`) and administer it (`admin`)."""
