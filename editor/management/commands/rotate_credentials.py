"""Re-encrypt every workspace credential with the first CREDENTIALS_KEY.

Rotating a key: put the new key first in CREDENTIALS_KEY (the old ones after it), restart, run
this, then drop the old keys. Values stay the same; only the key that seals them changes.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from editor import secret_box
from editor.credentials import rotate_all


class Command(BaseCommand):
    help = "Re-encrypt every workspace credential with the first key of CREDENTIALS_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            secret_box.box()  # a malformed key should fail here, once, not once per row
        except secret_box.SecretBoxError as exc:
            raise CommandError(str(exc)) from None
        if secret_box.uses_dev_key():
            self.stderr.write(
                "CREDENTIALS_KEY is not set: re-encrypting with the key derived from SECRET_KEY."
            )
        rotated, failures = rotate_all()
        self.stdout.write(f"Re-encrypted {rotated} credential(s) with the first key.")
        if failures:
            for failure in failures:
                self.stderr.write(f"could not re-encrypt credential {failure}")
            raise CommandError(f"{len(failures)} credential(s) could not be decrypted")
