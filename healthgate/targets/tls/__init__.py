"""TLS endpoints: the certificate a server presents, how long it has left, whom it names, and who vouches for it.

Two handshakes per target, once per run: one that accepts any certificate, so an expired or untrusted one can
still be read and reported, and one that verifies the chain against the system store or ``ca_file``. Hostname
matching is judged from the certificate's names, apart from the chain, so each check reports one cause.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.tls.client import Client
    from healthgate.targets.tls.settings import Settings

    # What a check's ``tls`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    TlsTarget: TypeAlias = Target[Settings, Client]
