"""The Django admin, with every change recorded in the audit log and the sign-in of the agent screens.

``HelpdeskAdminSite`` is the default admin site (``HelpdeskAdminConfig`` in INSTALLED_APPS, in place of
"django.contrib.admin"), so every ``@admin.register`` of every app goes through its ``register``, which gives
the ModelAdmin ``AuditedAdminMixin``: each addition, change and deletion that the admin writes to its own
LogEntry history, and each admin action run on a selection, is also an ``AuditEntry`` (with the actor's IP
address), in the same transaction. Users, teams, queues, SLA policies, rules, branding and the sign-in
security settings are all edited there.

The admin's own sign-in page would skip two-factor sign-in: it sends to the agents' one instead (and its
password change to the agents' one, which signs out the other sessions).
"""

import json

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.urls import reverse


def _label(obj) -> str:
    return f"{obj._meta.verbose_name} {obj.pk}: {obj}"


def _message_text(message) -> str:
    from django.contrib.admin.models import LogEntry

    if isinstance(message, list):
        message = json.dumps(message)
    return LogEntry(change_message=message or "").get_change_message()


def _model(obj_or_queryset) -> str:
    return obj_or_queryset._meta.label_lower


class AuditedAdminMixin:
    """Mirrors the admin's history (LogEntry) into the audit log, and records admin actions. A ModelAdmin
    whose saves, deletions and actions go through services that write their own, more telling, audit entries
    sets ``audited_by_services = True`` (one entry per change, not two)."""

    audited_by_services = False

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, "admin.add", _label(obj), model=_model(obj), object_id=str(obj.pk),
                    changes=_message_text(message))  # fmt: skip
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, "admin.change", _label(obj), model=_model(obj), object_id=str(obj.pk),
                    changes=_message_text(message))  # fmt: skip
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        entries = super().log_deletions(request, objects)
        if objects:
            target = _label(objects[0]) if len(objects) == 1 else f"{len(objects)} {self.opts.verbose_name_plural}"
            self._audit(request, "admin.delete", target, model=self.opts.label_lower,
                        object_ids=[str(obj.pk) for obj in objects[:200]],
                        objects=[str(obj)[:100] for obj in objects[:200]])  # fmt: skip
        return entries

    def response_action(self, request, queryset):
        response = super().response_action(request, queryset)
        try:
            index = int(request.POST.get("index", 0))
        except ValueError:
            index = 0
        names = request.POST.getlist("action")
        name = names[index] if index < len(names) else ""
        # None: nothing was done (no action or no selection). Deletions are recorded as such when confirmed.
        if response is not None and name and name != "delete_selected":
            from django.contrib.admin import helpers

            selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            across = request.POST.get("select_across") == "1"
            self._audit(request, "admin.action", f"{name} on {self.opts.verbose_name_plural}",
                        model=self.opts.label_lower, admin_action=name, all=across,
                        object_ids=[] if across else selected[:200])  # fmt: skip
        return response

    def _audit(self, request, action, target, **details):
        from .audit import audit_record

        if self.audited_by_services:
            return
        audit_record(actor=request.user, action=action, target=target, **details)


class HelpdeskAdminSite(AdminSite):
    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(admin_class.__name__, (AuditedAdminMixin, admin_class),
                               {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__})  # fmt: skip
        return super().register(model_or_iterable, admin_class, **options)

    def login(self, request, extra_context=None):
        """The agents' sign-in (with its second step), then back to the admin."""
        from django.contrib.auth.views import redirect_to_login
        from django.shortcuts import redirect

        if request.method == "GET" and self.has_permission(request):  # signed in already, as Django's does
            return redirect("admin:index")
        if request.user.is_authenticated:  # signed in, but not an admin
            raise PermissionDenied
        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))

    def password_change(self, request, extra_context=None):
        """The agents' own page, which also signs out the other sessions."""
        from django.shortcuts import redirect

        return redirect("password_change")


class HelpdeskAdminConfig(AdminConfig):
    default_site = "helpdesk.admin_site.HelpdeskAdminSite"
