"""`ensure_admin`: create a superuser `admin` with a random password if there is no superuser."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first superuser with a random password, printed once."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("an admin user exists already; its password is not shown again")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username="admin", email="", password=password)
        bar = "=" * 60
        self.stdout.write(
            f"{bar}\n  Admin user created: admin / {password}\n  (shown once; change it in the admin)\n{bar}"
        )
