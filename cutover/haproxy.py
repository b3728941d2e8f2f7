"""HAProxy's runtime API: how the cutover changes weights on an HAProxy router.

Why HAProxy and its runtime API: the sandbox needs a *real* weighted reverse
proxy so a cutover can be run end to end on one machine, with a load
generator proving that no request fails while weights move. HAProxy changes a
server's weight through its admin socket (``set server BACKEND/SERVER weight
N``) atomically and without a reload, so no connection is dropped — the same
property Traffic Manager and Front Door give in Azure. The local HAProxy
process itself (its configuration, its lifetime) is the sandbox's:
:mod:`sandbox.haproxy`.
"""
from __future__ import annotations

import socket
from pathlib import Path

from cutover.errors import RouterError

MAX_WEIGHT = 256  # HAProxy's limit for absolute weights


class RuntimeApi:
    """A client of HAProxy's admin socket: one command per connection (non-interactive mode).

    Args:
        path: the ``stats socket`` path.
        timeout: seconds per command.
    """

    def __init__(self, path: Path | str, timeout: float = 5.0) -> None:
        self.path = str(path)
        self.timeout = timeout

    def command(self, line: str) -> str:
        """Send ``line`` (commands may be joined with ``;``) and return the answer without trailing blank lines.

        Raises:
            RouterError: the socket is missing or refused the connection (retryable).
        """
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.path)
                s.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
        except OSError as e:
            raise RouterError(f"HAProxy admin socket {self.path}: {e.__class__.__name__}: {e}",
                              fix="is haproxy running with this `stats socket`? (scripts/setup-router installs it)",
                              retryable=True) from e
        return b"".join(chunks).decode(errors="replace").rstrip("\n")
