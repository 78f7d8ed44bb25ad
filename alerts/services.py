"""Channels and rules: save, delete, send a test message. Every interface (admin, API) calls these.

Each takes the `Actor`, checks the role with `access.policy.require` (editors define channels and
rules, operators may send a test message), validates here, and audits in its own transaction.
Channel secrets are sealed and masked like task secrets (`workflows.secrets`).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from access.actors import Actor
from access.audit import audit_record
from access.policy import require, team_named
from alerts import channels, rules
from alerts.channels import DeliveryError
from alerts.messages import channel_test_message
from alerts.models import Channel, Language, Rule
from alerts.outbox import guard
from baton.errors import Invalid
from workflows import secrets
from workflows.models import Role, Task, Team, Workflow

CHANNEL_FIELDS = {"team", "name", "kind", "config", "language", "enabled"}
RULE_FIELDS = {
    "team",
    "workflow",
    "task",
    "triggers",
    "channels",
    "enabled",
    "muted_from",
    "muted_until",
    "running_longer_than",
    "running_long_factor",
    "running_long_history",
    "deadline",
    "start_within",
}
HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _document(document: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise Invalid.at({"": _("expected an object")})
    unknown = sorted(set(document) - allowed, key=str)
    if unknown:
        raise Invalid.at({str(name): _("unknown field") for name in unknown})
    return dict(document)


def _team(actor: Actor, document: dict[str, Any], existing: Any, doing: str) -> Team:
    if existing is not None:
        require(actor, existing, Role.EDITOR, doing)
        if document.get("team", existing.team.name) != existing.team.name:
            raise Invalid.at({"team": _("the team of a channel or rule cannot change")})
        return existing.team
    return team_named(actor, document.get("team"), Role.EDITOR, doing=doing)


# -- channels ------------------------------------------------------------------------------


def _channel_config(kind: channels.ChannelKind, config: Any, previous: dict | None) -> dict[str, Any]:
    """Check a channel's config against its kind; wrap its secret fields as secrets and seal them."""
    if not isinstance(config, dict):
        raise Invalid.at({"config": _("expected an object")})
    known = {field.name: field for field in kind.fields}
    problems = {f"config.{name}": _("unknown field") for name in config if name not in known}
    wrapped: dict[str, Any] = {}
    for name, field in known.items():
        value = config.get(name)
        if value in (None, "", []):
            if field.required:
                problems[f"config.{name}"] = _("this field is required")
            continue
        if field.secret:
            if isinstance(value, str):
                value = {"secret": value}
            if not secrets.is_secret(value):
                problems[f"config.{name}"] = _("expected a string")
                continue
        elif field.many:
            value = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                problems[f"config.{name}"] = _("expected a list of strings")
                continue
        elif not isinstance(value, str):
            problems[f"config.{name}"] = _("expected a string")
            continue
        wrapped[name] = value
    plain = {name: value for name, value in wrapped.items() if not secrets.is_secret(value)}
    plain |= {name: value["secret"] for name, value in wrapped.items() if secrets.is_secret(value)}
    problems |= {f"config.{name}": message for name, message in kind.check(plain).items()}
    if problems:
        raise Invalid.at(problems)
    sealed, seal_problems = secrets.seal(wrapped, previous, "config")
    if seal_problems:
        raise Invalid.at(dict(seal_problems))
    return sealed


def channel_save(*, document: Any, actor: Actor, channel: Channel | None = None, dry_run: bool = False) -> Channel:
    """Create a channel (an editor of its team), or change `channel`; secrets written as `***` are kept.

    `dry_run` checks everything and rolls back (the admin form's check).
    """
    fields = _document(document, CHANNEL_FIELDS)
    doing = _("Saving an alert channel")
    team = _team(actor, fields, channel, doing)
    kind = channels.find(fields.get("kind", channel.kind if channel else None))
    if kind is None:
        names = ", ".join(channels.CHANNEL_KINDS)
        raise Invalid.at({"kind": _("unknown kind; one of %(kinds)s") % {"kinds": names}})
    name = fields.get("name", channel.name if channel else None)
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise Invalid.at({"name": _("a name of 1 to 64 characters is required")})
    language = fields.get("language", channel.language if channel else Language.EN)
    if language not in Language.values:
        raise Invalid.at({"language": _("one of %(languages)s") % {"languages": ", ".join(Language.values)}})
    enabled = fields.get("enabled", channel.enabled if channel else True)
    if not isinstance(enabled, bool):
        raise Invalid.at({"enabled": _("expected true or false")})
    previous = channel.config if channel is not None and channel.kind == kind.name else None
    config = _channel_config(kind, fields.get("config", secrets.mask(channel.config) if channel else {}), previous)
    with transaction.atomic():
        taken = Channel.objects.filter(team=team, name=name).exclude(pk=channel.pk if channel else None)
        if taken.exists():
            raise Invalid.at(
                {"name": _("team %(team)s already has a channel named %(name)r") % {"team": team, "name": name}}
            )
        before = {"name": channel.name, "kind": channel.kind} if channel else None
        saved = channel or Channel(team=team)
        saved.name, saved.kind, saved.config, saved.language, saved.enabled = name, kind.name, config, language, enabled
        saved.save()
        action = "alert_channel.update" if channel else "alert_channel.create"
        audit_record(actor=actor, action=action, obj=saved, before=before, after={"name": name, "kind": kind.name})
        transaction.set_rollback(dry_run)
    return saved


def channel_delete(*, channel: Channel, actor: Actor) -> None:
    """Delete a channel (an editor of its team); its deliveries go with it."""
    require(actor, channel, Role.EDITOR, _("Deleting channel %(name)s") % {"name": channel.name})
    with transaction.atomic():
        audit_record(actor=actor, action="alert_channel.delete", obj=channel, before={"name": channel.name})
        channel.delete()


def channel_test(*, channel: Channel, actor: Actor) -> str | None:
    """Send a test message through the channel now (an operator of its team); return the failure's reason, or None."""
    require(actor, channel, Role.OPERATOR, _("Testing channel %(name)s") % {"name": channel.name})
    kind = channels.find(channel.kind)
    plain: list[str] = []
    error = None
    try:
        if kind is None:
            raise DeliveryError(f"no channel kind named {channel.kind!r}")
        config, plain = secrets.unseal(channel.config)
        kind.send(config, channel_test_message(channel.name, str(channel.team), channel.language), guard())
    except (DeliveryError, ValueError) as exc:
        error = str(exc)
        for value in plain:
            error = error.replace(value, secrets.MASK) if value else error
    audit_record(actor=actor, action="alert_channel.test", obj=channel, after={"ok": error is None, "error": error})
    return error


# -- rules ---------------------------------------------------------------------------------


def _when(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value if isinstance(value, datetime) else None
    if parsed is None or parsed.tzinfo is None:
        raise Invalid.at({field: _("expected an ISO-8601 time with its offset")})
    return parsed


def _rule_fields(fields: dict[str, Any], team: Team, rule: Rule | None) -> dict[str, Any]:
    """Check a rule's fields (owner, triggers, channels, mute window) against the team's rows."""
    problems: dict[str, str] = {}
    owner: dict[str, Any] = {"workflow": rule.workflow if rule else None, "task": rule.task if rule else None}
    for field, model in (("workflow", Workflow), ("task", Task)):
        if field in fields:
            name = fields[field]
            found = model.objects.filter(team=team, name=name).first() if isinstance(name, str) and name else None
            if name not in (None, "") and found is None:
                problems[field] = _("team %(team)s has no %(what)s named %(name)r") % {
                    "team": team,
                    "what": field,
                    "name": name,
                }
            owner[field] = found
    if owner["workflow"] is not None and owner["task"] is not None:
        problems["task"] = _("a rule is for one workflow or one task (or neither: the team's default)")
    if owner["task"] is not None and owner["task"].workflow is not None:
        problems["task"] = _("task %(name)s runs in a workflow: make the rule for the workflow") % {
            "name": owner["task"].name
        }
    triggers = fields.get("triggers", rule.triggers if rule else [])
    if not isinstance(triggers, list) or not triggers or any(trigger not in rules.TRIGGERS for trigger in triggers):
        problems["triggers"] = _("a non-empty list of %(triggers)s") % {"triggers": ", ".join(rules.TRIGGERS)}
    clock = _clock_fields(fields, rule, triggers if isinstance(triggers, list) else [], problems)
    names = fields.get("channels")
    chosen = None
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            problems["channels"] = _("expected a list of channel names")
        else:
            chosen = list(Channel.objects.filter(team=team, name__in=names))
            missing = sorted(set(names) - {channel.name for channel in chosen})
            if missing:
                problems["channels"] = _("team %(team)s has no channel named %(names)s") % {
                    "team": team,
                    "names": ", ".join(missing),
                }
    muted_from = _when(fields.get("muted_from", rule.muted_from if rule else None), "muted_from")
    muted_until = _when(fields.get("muted_until", rule.muted_until if rule else None), "muted_until")
    if muted_from and muted_until and muted_until <= muted_from:
        problems["muted_until"] = _("must be after muted_from")
    enabled = fields.get("enabled", rule.enabled if rule else True)
    if not isinstance(enabled, bool):
        problems["enabled"] = _("expected true or false")
    if problems:
        raise Invalid.at(problems)
    return {
        **owner,
        "triggers": [trigger for trigger in rules.TRIGGERS if trigger in triggers],
        "channels": chosen,
        "muted_from": muted_from,
        "muted_until": muted_until,
        "enabled": enabled,
        **clock,
    }


def _positive(value: Any, field: str, top: int, problems: dict[str, str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        problems[field] = _("a whole number from 1 to %(top)d") % {"top": top}
        return None
    return value


def _deadline(value: Any, problems: dict[str, str]) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    match = HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        problems["deadline"] = _("a time of day as HH:MM (00:00 to 23:59)")
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _clock_fields(
    fields: dict[str, Any], rule: Rule | None, triggers: list, problems: dict[str, str]
) -> dict[str, Any]:
    """Check the fields of the clock's triggers: each belongs to its trigger, and its trigger needs it."""
    current = {
        name: fields.get(name, getattr(rule, name) if rule else None)
        for name in ("running_longer_than", "running_long_factor", "running_long_history", "deadline", "start_within")
    }
    values: dict[str, Any] = {
        "running_longer_than": _positive(current["running_longer_than"], "running_longer_than", 10**7, problems),
        "running_long_history": _positive(current["running_long_history"], "running_long_history", 1000, problems),
        "deadline": _deadline(current["deadline"], problems),
        "start_within": _positive(current["start_within"], "start_within", 24 * 60, problems),
        "running_long_factor": None,
    }
    factor = current["running_long_factor"]
    if factor is not None:
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 1 <= factor <= 1000:
            problems["running_long_factor"] = _("a number from 1 to 1000 (k in k × p95)")
        else:
            values["running_long_factor"] = float(factor)
    clock = [trigger for trigger in triggers if trigger in rules.CLOCK_TRIGGERS]
    if clock and len(triggers) > 1:
        problems["triggers"] = _(
            "%(trigger)s is decided by the clock and cannot share a rule with other triggers "
            "(one alert per batch or fire and rule): make a second rule"
        ) % {"trigger": clock[0]}
    owned = {
        "running_longer_than": rules.RUNNING_LONG,
        "running_long_factor": rules.RUNNING_LONG,
        "running_long_history": rules.RUNNING_LONG,
        "deadline": rules.NOT_SUCCEEDED_BY,
        "start_within": rules.NOT_STARTED_WITHIN,
    }
    for name, trigger in owned.items():
        if current[name] not in (None, "") and trigger not in triggers:
            problems.setdefault(name, _("only the %(trigger)s trigger takes this field") % {"trigger": trigger})
    if rules.RUNNING_LONG in triggers:
        fixed, relative = current["running_longer_than"] is not None, factor is not None
        if fixed == relative:
            problems.setdefault(
                "running_longer_than",
                _(
                    "the running_long trigger needs one limit: running_longer_than (seconds, at least 1), "
                    "or running_long_factor (k × the p95 of the last running_long_history successful batches)"
                ),
            )
        if current["running_long_history"] is not None and not relative:
            problems.setdefault(
                "running_long_history", _("only a relative limit (running_long_factor) takes a history")
            )
    if rules.NOT_SUCCEEDED_BY in triggers and current["deadline"] in (None, ""):
        problems.setdefault("deadline", _("the not_succeeded_by trigger needs a deadline (HH:MM)"))
    if rules.NOT_STARTED_WITHIN in triggers and current["start_within"] is None:
        problems.setdefault("start_within", _("the not_started_within trigger needs start_within (minutes)"))
    return values


def rule_save(*, document: Any, actor: Actor, rule: Rule | None = None, dry_run: bool = False) -> Rule:
    """Create a rule (an editor of its team), or change `rule`; `dry_run` checks everything and rolls back."""
    fields = _document(document, RULE_FIELDS)
    team = _team(actor, fields, rule, _("Saving an alert rule"))
    values = _rule_fields(fields, team, rule)
    chosen = values.pop("channels")
    with transaction.atomic():
        saved = rule or Rule(team=team, created_by=actor.user)
        for name, value in values.items():
            setattr(saved, name, value)
        saved.save()
        if chosen is not None:
            saved.channels.set(chosen)
        after = {"triggers": saved.triggers, "channels": sorted(channel.name for channel in saved.channels.all())}
        audit_record(actor=actor, action="alert_rule.update" if rule else "alert_rule.create", obj=saved, after=after)
        transaction.set_rollback(dry_run)
    return saved


def rule_delete(*, rule: Rule, actor: Actor) -> None:
    """Delete a rule (an editor of its team); the alerts it made go with it."""
    require(actor, rule, Role.EDITOR, _("Deleting an alert rule"))
    with transaction.atomic():
        audit_record(actor=actor, action="alert_rule.delete", obj=rule, before={"triggers": rule.triggers})
        rule.delete()
