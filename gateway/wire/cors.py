"""The CORSConfiguration document (Put/GetBucketCors), pure: XML in, rules out, and back.

AWS's validation is applied here so that a bad document changes nothing: at most 100
CORSRule elements, each with at least one AllowedOrigin and one AllowedMethod; methods only
GET, PUT, HEAD, POST and DELETE (InvalidRequest names the first other one); at most one
``*`` in an AllowedOrigin or AllowedHeader (InvalidRequest); MaxAgeSeconds a whole number.
Rules are stored as plain dicts (``CorsRule.to_dict``) in the bucket record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest, MalformedXML
from gateway.wire.xml import as_list, document, el, opt, parse

MAX_RULES = 100
METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
_RULE_FIELDS = frozenset(
    {"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"}
)


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule: who (origins, one ``*`` each) may do what (methods) with which
    request headers, which response headers the browser may show, and how long a
    preflight answer may be cached."""

    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"o": list(self.origins), "m": list(self.methods)}
        if self.headers:
            d["h"] = list(self.headers)
        if self.expose:
            d["e"] = list(self.expose)
        if self.max_age is not None:
            d["a"] = self.max_age
        if self.id is not None:
            d["i"] = self.id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CorsRule:
        return cls(
            origins=tuple(d["o"]),
            methods=tuple(d["m"]),
            headers=tuple(d.get("h", ())),
            expose=tuple(d.get("e", ())),
            max_age=d.get("a"),
            id=d.get("i"),
        )


def parse_cors(body: bytes) -> list[CorsRule]:
    """PutBucketCors's body as rules, or the S3 error AWS gives for it."""
    doc = parse(body, "CORSConfiguration")
    if set(doc) != {"CORSRule"}:
        raise MalformedXML()
    raw_rules = as_list(doc["CORSRule"])
    if not raw_rules or len(raw_rules) > MAX_RULES:
        raise MalformedXML()
    return [_rule(r) for r in raw_rules]


def _strings(rule: dict[str, Any], name: str) -> tuple[str, ...]:
    values = as_list(rule.get(name))
    if any(isinstance(v, (dict, list)) for v in values):
        raise MalformedXML()
    return tuple("" if v is None else str(v) for v in values)


def _rule(rule: Any) -> CorsRule:
    if not isinstance(rule, dict) or not set(rule) <= _RULE_FIELDS:
        raise MalformedXML()
    origins = _strings(rule, "AllowedOrigin")
    methods = _strings(rule, "AllowedMethod")
    if not origins or not methods:
        raise MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise InvalidRequest(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for origin in origins:
        if origin.count("*") > 1:
            raise InvalidRequest(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
    headers = _strings(rule, "AllowedHeader")
    for header in headers:
        if header.count("*") > 1:
            raise InvalidRequest(f'AllowedHeader "{header}" can not have more than one wildcard.')
    ids = _strings(rule, "ID")
    ages = _strings(rule, "MaxAgeSeconds")
    if len(ids) > 1 or len(ages) > 1:
        raise MalformedXML()
    if ages and not (ages[0].isascii() and ages[0].lstrip("-").isdigit()):
        raise MalformedXML()
    if ids and len(ids[0]) > 255:
        raise InvalidRequest("ID length should not exceed allowed limit of 255")
    return CorsRule(
        origins=origins,
        methods=methods,
        headers=headers,
        expose=_strings(rule, "ExposeHeader"),
        max_age=int(ages[0]) if ages else None,
        id=ids[0] if ids else None,
    )


def render_cors(rules: list[CorsRule]) -> bytes:
    """GetBucketCors's answer: the rules as they were put, in order."""
    return document("CORSConfiguration", (_render_rule(r) for r in rules))


def _render_rule(rule: CorsRule) -> str:
    parts = [opt("ID", rule.id)]
    parts += [el("AllowedHeader", h) for h in rule.headers]
    parts += [el("AllowedMethod", m) for m in rule.methods]
    parts += [el("AllowedOrigin", o) for o in rule.origins]
    parts += [el("ExposeHeader", h) for h in rule.expose]
    parts.append(opt("MaxAgeSeconds", rule.max_age))
    return "<CORSRule>" + "".join(parts) + "</CORSRule>"
