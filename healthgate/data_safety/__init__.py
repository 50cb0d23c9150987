"""No data lost: a small fingerprint of each data store taken before a deploy (or an incident) and compared after
it, so a deploy or a recovery that dropped rows, keys, documents or backups fails the gate.

Importing this package is cheap on purpose (the profile model imports :mod:`healthgate.data_safety.settings`); the
collectors import their client libraries only when they run.
"""
