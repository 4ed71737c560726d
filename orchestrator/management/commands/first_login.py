"""Create the first user (``admin``) when there is none, and say how to log in.

The random password is printed and kept in var/first-login.txt (mode 600) so that the next start
can print it again; once someone changes that password, the file is deleted.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from orchestrator.devserver import FIRST_LOGIN_FILE, read_first_login, var_dir, write_first_login


class Command(BaseCommand):
    help = "Create the first user (admin, a random password) if there are no users yet."

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        directory = var_dir()
        if not users.objects.exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "", password)
            path = write_first_login(directory, "admin", password)
            self.stdout.write(
                f"Created the first user: admin, password {password} (kept in {path})"
            )
            return
        login = read_first_login(directory)
        if login is None:
            return
        username, password = login
        user = users.objects.filter(username=username).first()
        if user is not None and user.check_password(password):
            self.stdout.write(f"First login: {username}, password {password}")
        else:
            (directory / FIRST_LOGIN_FILE).unlink(missing_ok=True)
            self.stdout.write(
                f"The first password of {username} was changed; it is no longer shown."
            )
