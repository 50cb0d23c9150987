"""TLS endpoints: the certificate a server presents, how long it has left, whom it names, and who vouches for it.

Two handshakes per target, once per run: one that accepts any certificate, so an expired or untrusted one can
still be read and reported, and one that verifies the chain against the system store or ``ca_file``. Hostname
matching is judged from the certificate's names, apart from the chain, so each check reports one cause.
"""
