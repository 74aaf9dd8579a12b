"""Host calls as policy-evaluator's ``CallbackRequestType``: what goes over its callback channel.

policy-evaluator (``src/runtimes/callback.rs``) decodes each context-aware or
networked host call into one variant of ``CallbackRequestType``
(``src/callback_requests.rs``) and sends it to the callback handler; kwctl's
record/replay files hold exactly these, serialised with serde_yaml (the
variant as the YAML tag, its fields in declaration order). Here a request is
a :class:`ChannelRequest`: the variant's name and its fields in that order.
``tracing/log``, bad JSON, allow-list denials and unknown operations never
reach the channel (:func:`channel_request` says which calls do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: (namespace, operation) -> the variant and its fields, in Rust declaration order.
KUBERNETES = {
    "list_resources_by_namespace": ("KubernetesListResourceNamespace",
                                    ("api_version", "kind", "namespace", "label_selector",
                                     "field_selector")),
    "list_resources_all": ("KubernetesListResourceAll",
                           ("api_version", "kind", "label_selector", "field_selector")),
    "get_resource": ("KubernetesGetResource",
                     ("api_version", "kind", "name", "namespace", "disable_cache")),
    "can_i": ("KubernetesCanI", ("request", "disable_cache")),
}
#: The fields each request JSON must have (the others default to null / false).
REQUIRED = {
    "KubernetesListResourceNamespace": ("api_version", "kind", "namespace"),
    "KubernetesListResourceAll": ("api_version", "kind"),
    "KubernetesGetResource": ("api_version", "kind", "name"),
    "KubernetesCanI": ("subject_access_review",),
}
#: oci/net/crypto operations policy-evaluator answers (``callback.rs``), as channel variants.
OFFLINE = {
    ("oci", "v1/verify"): "Sigstore",
    ("oci", "v2/verify"): "Sigstore",
    ("oci", "v1/manifest_digest"): "OciManifestDigest",
    ("oci", "v1/oci_manifest"): "OciManifest",
    ("oci", "v1/oci_manifest_config"): "OciManifestAndConfig",
    ("net", "v1/dns_lookup_host"): "DNSLookupHost",
    ("crypto", "v1/is_certificate_trusted"): "CryptoIsCertificateTrusted",
}
_SIGSTORE_V2 = {
    "SigstorePubKeyVerify": ("image", "pub_keys", "annotations"),
    "SigstoreKeylessVerify": ("image", "keyless", "annotations"),
    "SigstoreKeylessPrefixVerify": ("image", "keyless_prefix", "annotations"),
    "SigstoreGithubActionsVerify": ("image", "owner", "repo", "annotations"),
    "SigstoreCertificateVerify": ("image", "certificate", "certificate_chain",
                                  "require_rekor_bundle", "annotations"),
}


class BadRequest(ValueError):
    """The payload is not the request JSON the operation takes (serde_json would refuse it)."""


@dataclass(frozen=True)
class ChannelRequest:
    """One ``CallbackRequestType`` value: its variant and its fields in order."""

    variant: str
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        return dict(self.fields).get(name)

    def as_mapping(self) -> dict[str, Any]:
        return dict(self.fields)

    def same_as(self, other: ChannelRequest) -> bool:
        """Structural equality (a field one side lacks counts as null)."""
        if self.variant != other.variant:
            return False
        mine, theirs = self.as_mapping(), other.as_mapping()
        return all(mine.get(k) == theirs.get(k) for k in set(mine) | set(theirs))

    def debug(self) -> str:
        """As Rust's ``{:?}`` shows it (kwctl's replay errors quote requests so)."""
        def optional(name: str) -> bool:
            if self.variant == "KubernetesListResourceNamespace" and name == "namespace":
                return False  # a String there, an Option<String> in get_resource
            return name in _OPTIONAL

        inner = ", ".join(f"{name}: {_debug(value, optional(name))}"
                          for name, value in self.fields)
        return f"{self.variant} {{ {inner} }}"


#: Fields that are ``Option<...>`` in the Rust request types.
_OPTIONAL = frozenset({"namespace", "label_selector", "field_selector", "annotations", "repo",
                       "certificate_chain"})


def _debug(value: Any, optional: bool = False) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list):
        shown = "[" + ", ".join(_debug(v) for v in value) + "]"
    elif isinstance(value, dict):
        shown = "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_debug(v)}"
                                for k, v in value.items()) + "}"
    else:
        shown = str(value)
    return f"Some({shown})" if optional else shown


def decode_json(payload: bytes) -> Any:
    """The payload as JSON; a failure raises BadRequest with serde_json-like text."""
    try:
        return json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("invalid unicode code point at line 1 column 1") from None
    except json.JSONDecodeError as exc:
        what = _SERDE_WORDS.get(exc.msg.split(":")[0], "expected value")
        if exc.pos >= len(payload):
            what = "EOF while parsing a value"
        raise BadRequest(f"{what} at line {exc.lineno} column {exc.colno}") from None


#: Python's JSON error wording -> serde_json's (the text a policy reads back).
_SERDE_WORDS = {
    "Expecting value": "expected value",
    "Expecting property name enclosed in double quotes": "key must be a string",
    "Expecting ',' delimiter": "expected `,` or `}`",
    "Expecting ':' delimiter": "expected `:`",
    "Extra data": "trailing characters",
    "Invalid control character at": "control character (\\u0000-\\u001F) found while "
                                    "parsing a string",
}


def _object(value: Any, variant: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"invalid type: {_json_type(value)}, expected struct {variant}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, (int, float)):
        return f"integer `{value}`" if isinstance(value, int) else f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return "sequence" if isinstance(value, list) else "map"


def kubernetes_request(operation: str, payload: bytes) -> ChannelRequest:
    """A ``kubewarden``/``kubernetes`` host call's request; BadRequest when it is not one."""
    variant, names = KUBERNETES[operation]
    value = _object(decode_json(payload), variant)
    for name in REQUIRED[variant]:
        if name not in value:
            raise BadRequest(f"missing field `{name}`")
    if variant == "KubernetesCanI":
        return ChannelRequest(variant, (("request", value["subject_access_review"]),
                                        ("disable_cache", bool(value.get("disable_cache")))))
    fields = []
    for name in names:
        item = value.get(name)
        if name == "disable_cache":
            item = bool(item)
        elif item is not None and not isinstance(item, str):
            raise BadRequest(f"invalid type: {_json_type(item)}, expected a string")
        fields.append((name, item))
    return ChannelRequest(variant, tuple(fields))


def offline_request(namespace: str, operation: str, payload: bytes) -> ChannelRequest:
    """An ``oci``/``net``/``crypto`` host call's request; BadRequest when it is not one."""
    variant = OFFLINE[(namespace, operation)]
    value = decode_json(payload)
    if variant in ("OciManifestDigest", "OciManifest", "OciManifestAndConfig",
                   "DNSLookupHost"):
        if not isinstance(value, str):
            raise BadRequest(f"invalid type: {_json_type(value)}, expected a string")
        key = "host" if variant == "DNSLookupHost" else "image"
        return ChannelRequest(variant, ((key, value),))
    if variant == "CryptoIsCertificateTrusted":
        request = _object(value, "CertificateVerificationRequest")
        return ChannelRequest(variant, (("request", request),))
    if operation == "v1/verify":  # externally tagged: {"SigstorePubKeyVerify": {...}}
        body = _object(value, "SigstoreVerificationInputV1")
        if len(body) != 1 or next(iter(body)) not in ("SigstorePubKeyVerify",
                                                      "SigstoreKeylessVerify"):
            raise BadRequest("unknown variant, expected `SigstorePubKeyVerify` or "
                             "`SigstoreKeylessVerify`")
        variant, fields = next(iter(body.items()))
    else:  # v2: internally tagged by "type"
        fields = _object(value, "SigstoreVerificationInputV2")
        variant = str(fields.get("type"))
        if variant not in _SIGSTORE_V2:
            raise BadRequest(f"unknown variant `{variant}`, expected one of "
                             + ", ".join(f"`{v}`" for v in _SIGSTORE_V2))
    fields = _object(fields, variant)
    return ChannelRequest(variant, tuple((name, fields.get(name))
                                         for name in _SIGSTORE_V2[variant]))


def legacy_request(namespace: str) -> ChannelRequest | None:
    """The legacy ``kubernetes`` binding (``ingresses``, ``namespaces``, ``services``):
    every object of one kind, no selector (policy-evaluator ignores the payload)."""
    kinds = {"ingresses": ("networking.k8s.io/v1", "Ingress"),
             "namespaces": ("v1", "Namespace"), "services": ("v1", "Service")}
    if namespace not in kinds:
        return None
    api_version, kind = kinds[namespace]
    return ChannelRequest("KubernetesListResourceAll", (
        ("api_version", api_version), ("kind", kind), ("label_selector", None),
        ("field_selector", None)))
