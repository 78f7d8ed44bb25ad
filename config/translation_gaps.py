"""Texts other packages show in Baton's admin but translate into no Chinese: our catalogue does.

Django 5.2's own zh_Hans catalogue lacks a few admin texts (the app list's hidden column heads)
and django-axes ships no Chinese at all. Our catalogue (LOCALE_PATHS) comes first, so listing
them here, where `makemessages` finds them, is enough. Never imported: a source of msgids only.
"""

from __future__ import annotations

from baton.text import _

GAPS = (
    # django.contrib.admin: the app list's column heads (read by screen readers)
    _("Model name"),
    _("Add link"),
    _("Change or view list link"),
    # django-axes: its models, seen by superusers
    _("access attempt"),
    _("access attempts"),
    _("access failure"),
    _("access failures"),
    _("access log"),
    _("access logs"),
    _("access attempt expiration"),
    _("access attempt expirations"),
)
