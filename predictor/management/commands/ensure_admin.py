import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Make sure an admin account exists; print how to log in."""

    help = "Create a superuser 'admin' with a random password if no superuser exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options):
        User = get_user_model()
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing:
            self.stdout.write(
                f"Log in as {existing.get_username()!r} with its password "
                "(forgotten? .venv/bin/python manage.py changepassword "
                f"{existing.get_username()})."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(options["username"], "", password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin account: username {options['username']!r}, password {password!r}\n"
                "It is shown only this once; change it with: "
                f".venv/bin/python manage.py changepassword {options['username']}"
            )
        )
