"""A stand-in for one gunicorn worker: verifies tokens read from stdin, prints ok or the reason.

Run as ``python -m tests.auth._revocation_worker REVOCATION_FILE``; the secret comes from
``VENEER_JWT_SECRET``. Used by test_revocation.py to show that every process honours a
revocation within the stated bound.
"""

import sys

from veneer.sidecar.auth import Authenticator, Unauthorized
from veneer.wrapper.settings import Config

from .conftest import ISSUER


def main() -> None:
    config = Config(models=(), auth={"issuer": ISSUER, "secret_env": "VENEER_JWT_SECRET",
                                     "revocation_file": sys.argv[1], "revocation_check_seconds": 1})
    auth = Authenticator.from_config(config)
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            auth.authenticate({"Authorization": f"Bearer {line.strip()}"})
            print("ok", flush=True)
        except Unauthorized as e:
            print(e.code, flush=True)


if __name__ == "__main__":
    main()
