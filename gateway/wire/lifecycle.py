"""The LifecycleConfiguration document (Put/GetBucketLifecycleConfiguration), pure.

XML in, checked in full, and out as the plain rule dicts meta/lifecycle.py documents (the
form stored in the bucket record); and back to XML in the shape it was given, so a GET
answers what was put. AWS's validation is applied here, so a bad document changes
nothing:

- MalformedXML: an unknown element, a Status other than Enabled/Disabled, a filter with
  more than one of Prefix, Tag and And, an Expiration with more than one of Days, Date
  and ExpiredObjectDeleteMarker, an action without its value, a date that is no date,
  no rule at all or more than 1,000 rules;
- InvalidArgument: an ID over 255 characters, two rules with one ID, days that are not
  positive, a Date not at midnight UTC, Filter and Prefix together, a rule without an
  action, ExpiredObjectDeleteMarker or AbortIncompleteMultipartUpload with a tag or size
  filter, sizes that leave no room;
- InvalidStorageClass: a transition. Cairn keeps one storage class, STANDARD, and no
  transition may target it.

A rule without an ID gets a random one, as AWS gives it.
"""

from __future__ import annotations

import base64
import os
import re
import time
from email.utils import formatdate
from typing import Any

from gateway.errors import InvalidArgument, InvalidStorageClass, MalformedXML
from gateway.wire.xml import as_list, document, el, parse

MAX_RULES = 1000
MAX_ID = 255
Stored = dict[str, Any]

_RULE_FIELDS = frozenset(
    {
        "ID", "Status", "Filter", "Prefix", "Expiration", "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition",
    }
)  # fmt: skip
_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]00:?00)?)?$"
)


def parse_lifecycle(body: bytes) -> list[Stored]:
    """PutBucketLifecycleConfiguration's body as stored rules, or AWS's error for it."""
    # Text kept exactly: a Prefix of " " is not the empty prefix (which matches every key).
    doc = _clean(parse(body, "LifecycleConfiguration", keep_whitespace=True))
    if set(doc) != {"Rule"}:
        raise MalformedXML()
    raw_rules = as_list(doc["Rule"])
    if not raw_rules or len(raw_rules) > MAX_RULES:
        raise MalformedXML()
    rules = [_rule(r) for r in raw_rules]
    ids = [r["id"] for r in rules]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("Rule ID must be unique. Found same ID for more than one rule")
    return rules


def _clean(value: Any) -> Any:
    """The document without the blanks between elements (kept as "#text" beside them)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith(("#text", "@"))}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise MalformedXML()
    return "" if value is None else str(value)


def _one(d: dict[str, Any], name: str) -> str | None:
    if name not in d:
        return None
    if isinstance(d[name], list):
        raise MalformedXML()
    return _text(d[name])


def _positive(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"-?\d+", value.strip()):
        raise MalformedXML()
    n = int(value)
    if n <= 0:
        raise InvalidArgument(f"'{what}' must be a positive integer")
    return n


def _size(value: str | None) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d+", value.strip()):
        raise MalformedXML()
    return int(value)


def _rule(raw: Any) -> Stored:
    if not isinstance(raw, dict) or not set(raw) <= _RULE_FIELDS:
        raise MalformedXML()
    if "Transition" in raw or "NoncurrentVersionTransition" in raw:
        _transitions(raw)
    rid = _one(raw, "ID")
    if rid is not None and len(rid) > MAX_ID:
        raise InvalidArgument(f"ID length should not exceed allowed limit of {MAX_ID}")
    status = _one(raw, "Status")
    if status not in ("Enabled", "Disabled"):
        raise MalformedXML()
    out: Stored = {"id": rid or _new_id(), "on": status == "Enabled"}
    _filter(raw, out)
    _expiration(raw, out)
    _noncurrent(raw, out)
    _abort(raw, out)
    if not {"ed", "edt", "em", "nd", "nn", "ad"} & set(out):
        raise InvalidArgument("At least one action needs to be specified in a rule")
    objects_only = bool(out.get("t")) or "gt" in out or "lt" in out
    if objects_only and "em" in out:
        raise InvalidArgument(
            "ExpiredObjectDeleteMarker cannot be specified with a tag or size filter"
        )
    if objects_only and "ad" in out:
        raise InvalidArgument(
            "AbortIncompleteMultipartUpload cannot be specified with a tag or size filter"
        )
    return out


def _new_id() -> str:
    return base64.b32encode(os.urandom(15)).decode().rstrip("=")


def _filter(raw: dict[str, Any], out: Stored) -> None:
    if "Filter" in raw and "Prefix" in raw:
        raise InvalidArgument(
            "The Filter and Prefix elements are mutually exclusive. "
            "You can specify one or the other, but not both."
        )
    if "Prefix" in raw:
        out["f"], out["p"] = "legacy", _one(raw, "Prefix") or ""
        return
    if "Filter" not in raw:
        out["f"] = "none"
        return
    f = raw["Filter"]
    if f is None or f == {} or (isinstance(f, str) and not f.strip()):
        out["f"] = "empty"
        return
    if not isinstance(f, dict) or not set(f) <= {
        "Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan"
    }:  # fmt: skip
        raise MalformedXML()
    sizes = {"ObjectSizeGreaterThan", "ObjectSizeLessThan"} & set(f)
    kinds = len({"Prefix", "Tag", "And"} & set(f)) + (1 if sizes else 0)
    if kinds != 1:
        raise MalformedXML()
    if "Prefix" in f:
        out["f"], out["p"] = "prefix", _one(f, "Prefix") or ""
    elif "Tag" in f:
        out["f"], out["t"] = "tag", dict([_tag(f["Tag"])])
    elif "And" in f:
        out["f"] = "and"
        _and(f["And"], out)
    else:
        out["f"] = "size"
        _sizes(f, out)


def _tag(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict) or set(raw) != {"Key", "Value"}:
        raise MalformedXML()
    return _text(raw["Key"]), _text(raw["Value"])


def _and(raw: Any, out: Stored) -> None:
    if not isinstance(raw, dict) or not set(raw) <= {
        "Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"
    }:  # fmt: skip
        raise MalformedXML()
    if "Prefix" in raw:
        out["p"] = _one(raw, "Prefix") or ""
    tags = [_tag(t) for t in as_list(raw.get("Tag"))]
    if len({k for k, _ in tags}) != len(tags):
        raise InvalidArgument("Duplicate Tag Keys are not allowed.")
    if tags:
        out["t"] = dict(tags)
    _sizes(raw, out)


def _sizes(raw: dict[str, Any], out: Stored) -> None:
    gt, lt = _size(_one(raw, "ObjectSizeGreaterThan")), _size(_one(raw, "ObjectSizeLessThan"))
    if gt is not None:
        out["gt"] = gt
    if lt is not None:
        if lt <= 0:
            raise InvalidArgument("'ObjectSizeLessThan' has to be a positive integer")
        out["lt"] = lt
    if gt is not None and lt is not None and gt >= lt:
        raise InvalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")


def _expiration(raw: dict[str, Any], out: Stored) -> None:
    if "Expiration" not in raw:
        return
    e = raw["Expiration"]
    if (
        not isinstance(e, dict)
        or not e
        or not set(e) <= {"Days", "Date", "ExpiredObjectDeleteMarker"}
    ):
        raise MalformedXML()
    if len(e) != 1:
        raise MalformedXML()
    if "Days" in e:
        out["ed"] = _positive(_one(e, "Days"), "Days' for Expiration action")
    elif "Date" in e:
        out["edt"] = _midnight(_one(e, "Date") or "")
    else:
        flag = (_one(e, "ExpiredObjectDeleteMarker") or "").strip().lower()
        if flag not in ("true", "false"):
            raise MalformedXML()
        out["em"] = flag == "true"


def _midnight(text: str) -> str:
    """A Date as stored ("2027-01-01T00:00:00.000Z"); MalformedXML when it is no date,
    InvalidArgument when it is not midnight UTC."""
    m = _DATE.match(text.strip())
    if m is None:
        raise MalformedXML()
    y, mo, d, hh, mm, ss, _ = m.groups()
    try:
        time.strptime(f"{y}-{mo}-{d}", "%Y-%m-%d")
    except ValueError:
        raise MalformedXML() from None
    if (hh, mm, ss) not in ((None, None, None), ("00", "00", "00")):
        raise InvalidArgument("'Date' must be at midnight GMT")
    return f"{y}-{mo}-{d}T00:00:00.000Z"


def _noncurrent(raw: dict[str, Any], out: Stored) -> None:
    if "NoncurrentVersionExpiration" not in raw:
        return
    n = raw["NoncurrentVersionExpiration"]
    if (
        not isinstance(n, dict)
        or not n
        or not set(n) <= {"NoncurrentDays", "NewerNoncurrentVersions"}
    ):
        raise MalformedXML()
    days = _positive(
        _one(n, "NoncurrentDays"), "NoncurrentDays' for NoncurrentVersionExpiration action"
    )
    newer = _positive(_one(n, "NewerNoncurrentVersions"), "NewerNoncurrentVersions")
    if newer is not None and newer > 100:
        raise InvalidArgument("'NewerNoncurrentVersions' must be between 1 and 100")
    if days is not None:
        out["nd"] = days
    if newer is not None:
        out["nn"] = newer


def _abort(raw: dict[str, Any], out: Stored) -> None:
    if "AbortIncompleteMultipartUpload" not in raw:
        return
    a = raw["AbortIncompleteMultipartUpload"]
    if not isinstance(a, dict) or set(a) != {"DaysAfterInitiation"}:
        raise MalformedXML()
    out["ad"] = _positive(_one(a, "DaysAfterInitiation"), "DaysAfterInitiation")


def _transitions(raw: dict[str, Any]) -> None:
    """Transitions are checked as AWS checks them (a bad date or days is a bad document),
    then refused: Cairn has no storage class to move objects to."""
    for name in ("Transition", "NoncurrentVersionTransition"):
        for t in as_list(raw.get(name)):
            if not isinstance(t, dict):
                raise MalformedXML()
            if "Date" in t:
                _midnight(_one(t, "Date") or "")
            for days in ("Days", "NoncurrentDays"):
                value = _one(t, days)
                if value is not None and not re.fullmatch(r"\d+", value.strip()):
                    raise MalformedXML()
    raise InvalidStorageClass("The storage class you specified is not valid")


# ------------------------------------------------------------------ rendering


def render_lifecycle(rules: list[Stored]) -> bytes:
    """GetBucketLifecycleConfiguration's answer: the rules as they were put, in order."""
    return document("LifecycleConfiguration", (_render_rule(r) for r in rules))


def _render_rule(r: Stored) -> str:
    parts = [el("ID", r["id"])]
    form = r.get("f", "none")
    if form == "legacy":
        parts.append(el("Prefix", r.get("p", "")))
    elif form == "empty":
        parts.append("<Filter></Filter>")
    elif form != "none":
        parts.append("<Filter>" + _render_filter(form, r) + "</Filter>")
    parts.append(el("Status", "Enabled" if r.get("on") else "Disabled"))
    if "ed" in r:
        parts.append("<Expiration>" + el("Days", r["ed"]) + "</Expiration>")
    elif "edt" in r:
        parts.append("<Expiration>" + el("Date", r["edt"]) + "</Expiration>")
    elif "em" in r:
        flag = "true" if r["em"] else "false"
        parts.append("<Expiration>" + el("ExpiredObjectDeleteMarker", flag) + "</Expiration>")
    if "nd" in r or "nn" in r:
        inner = (el("NoncurrentDays", r["nd"]) if "nd" in r else "") + (
            el("NewerNoncurrentVersions", r["nn"]) if "nn" in r else ""
        )
        parts.append("<NoncurrentVersionExpiration>" + inner + "</NoncurrentVersionExpiration>")
    if "ad" in r:
        inner = el("DaysAfterInitiation", r["ad"])
        parts.append(
            "<AbortIncompleteMultipartUpload>" + inner + "</AbortIncompleteMultipartUpload>"
        )
    return "<Rule>" + "".join(parts) + "</Rule>"


def _render_filter(form: str, r: Stored) -> str:
    tags = "".join(
        "<Tag>" + el("Key", k) + el("Value", v) + "</Tag>" for k, v in (r.get("t") or {}).items()
    )
    sizes = ("" if "gt" not in r else el("ObjectSizeGreaterThan", r["gt"])) + (
        "" if "lt" not in r else el("ObjectSizeLessThan", r["lt"])
    )
    if form == "prefix":
        return el("Prefix", r.get("p", ""))
    if form == "tag":
        return tags
    if form == "size":
        return sizes
    prefix = el("Prefix", r["p"]) if "p" in r else ""
    return "<And>" + prefix + tags + sizes + "</And>"


def expiration_header(due_ms: int, rule_id: str) -> dict[str, str]:
    """x-amz-expiration: when the version expires and by which rule (AWS's format)."""
    date = formatdate(due_ms / 1000, usegmt=True)
    return {"x-amz-expiration": f'expiry-date="{date}", rule-id="{rule_id}"'}


def abort_headers(due_ms: int, rule_id: str) -> dict[str, str]:
    """x-amz-abort-date and x-amz-abort-rule-id of CreateMultipartUpload."""
    return {
        "x-amz-abort-date": formatdate(due_ms / 1000, usegmt=True),
        "x-amz-abort-rule-id": rule_id,
    }
