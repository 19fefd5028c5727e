"""JSON Schema of the ``auth:`` section: how access tokens are verified.

``auth: none`` switches tokens off (local use only; the server says so loudly).
Otherwise exactly one key source is configured: ``secret_env`` (HS256 shared
secret), ``public_key_file`` (RS256/ES256 PEM) or ``jwks_url``. The rules
JSON Schema cannot express (one algorithm family, secret length, reserved
extra claims...) are checked by ``veneer.sidecar.auth`` at start, with the
same ``ConfigError`` naming the key.
"""

from __future__ import annotations

#: Algorithms a config may name; ``none`` is never one of them.
ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA"]

#: Claims a token always needs (the ``required_claims`` option can only add to them).
BASE_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]

#: Claims that carry veneer's meaning; ``extra_claims`` and ``--claim`` cannot set them.
RESERVED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "scope", "perm", "groups", "gid",
                   "typ", "token_use", "azp", "cnf"]

_STR_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}}

AUTH_OBJECT = {
    "type": "object",
    "description": "Token verification. Exactly one of secret_env, public_key_file, jwks_url.",
    "additionalProperties": False,
    "required": ["issuer"],
    "properties": {
        "issuer": {"oneOf": [{"type": "string", "minLength": 1},
                             {**_STR_LIST, "minItems": 1}],
                   "description": "Expected 'iss' claim, compared exactly (a list accepts any of them, "
                                  "all verified with the same key source)."},
        "audience": {"oneOf": [{"type": "string", "minLength": 1},
                               {**_STR_LIST, "minItems": 1}],
                     "default": "veneer",
                     "description": "Expected 'aud' claim: a token is accepted when its audience (string "
                                    "or list) contains one of these. Must not be empty."},
        "algorithms": {"type": ["array", "null"], "items": {"enum": ALGORITHMS}, "default": None,
                       "description": "Allowed 'alg' values, all of one family (HS*, RS*/PS*, ES*, EdDSA). "
                                      "Default: HS256 for secret_env, the key's own algorithm for "
                                      "public_key_file (RS256 or ES256/384/512), RS256 for jwks_url."},
        "secret_env": {"type": ["string", "null"], "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "default": None,
                       "description": "Name of the environment variable holding the HS shared secret "
                                      "(at least 32 bytes). The secret itself never goes in the file."},
        "public_key_file": {"type": ["string", "null"], "default": None,
                            "description": "PEM public key (RSA or EC) verifying RS*/PS*/ES* tokens; "
                                           "relative to this config file."},
        "jwks_url": {"type": ["string", "null"], "pattern": "^https?://", "default": None,
                     "description": "JWKS endpoint of the identity provider (http or https). "
                                    "Redirects are never followed."},
        "jwks_cache_seconds": {"type": "number", "minimum": 1, "maximum": 86400, "default": 300,
                               "description": "How long a fetched key set is fresh; after that it is refetched "
                                              "(keys removed upstream stop working within this time)."},
        "jwks_cooldown_seconds": {"type": "number", "minimum": 0, "maximum": 3600, "default": 30,
                                  "description": "Least time between two fetches triggered by an unknown 'kid' "
                                                 "or by a failed fetch (protects the IdP from token floods)."},
        "jwks_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 30, "default": 2,
                                 "description": "Whole-fetch deadline (connect + read) of the key set."},
        "jwks_max_stale_seconds": {"type": "number", "minimum": 0, "maximum": 604800, "default": 3600,
                                   "description": "While the endpoint is down, keep using the last good key "
                                                  "set for this long after it stops being fresh "
                                                  "(jwks_cache_seconds); then fail closed (503)."},
        "jwks_max_bytes": {"type": "integer", "minimum": 1024, "maximum": 16777216, "default": 1048576,
                           "description": "Largest key-set response read; a bigger body is refused."},
        "leeway": {"type": "number", "minimum": 0, "maximum": 300, "default": 30,
                   "description": "Clock skew tolerated on exp, nbf and iat, in seconds (at most 300)."},
        "max_lifetime_seconds": {"type": "integer", "minimum": 60, "default": 7776000,
                                 "description": "Longest accepted exp - iat (default 90 days); longer-lived "
                                                "tokens are refused."},
        "required_claims": {**_STR_LIST, "default": list(BASE_REQUIRED_CLAIMS),
                            "description": "Claims every token must carry; exp, iat, iss, aud and sub are "
                                           "always required, and jti too when revocation_file is set."},
        "token_types": {**_STR_LIST, "minItems": 1, "default": ["JWT", "at+jwt", "Bearer", "access"],
                        "description": "Accepted token types, compared case-insensitively with the 'typ' "
                                       "header, a 'typ' claim and a 'token_use' claim when present, so "
                                       "refresh and ID tokens are refused."},
        "allow_query_token": {"type": "boolean", "default": False,
                              "description": "Also accept the token from the query string (it then shows in "
                                             "proxies' logs; prefer the Authorization header)."},
        "query_token_param": {"type": "string", "minLength": 1, "default": "access_token",
                              "description": "Query parameter read when allow_query_token is true."},
        "revocation_file": {"type": ["string", "null"], "default": None,
                            "description": "Denylist of revoked 'jti' values (written by `veneer token "
                                           "revoke`); every worker re-reads it when it changes, checking at "
                                           "most every revocation_check_seconds."},
        "revocation_check_seconds": {"type": "number", "minimum": 0.1, "maximum": 60, "default": 1,
                                     "description": "Propagation bound of a revocation to every worker."},
        "global_id": {"type": ["string", "null"], "minLength": 1, "default": None,
                      "description": "This deployment's global id: tokens carrying gid equal to it (or to "
                                     "one of trusted_global_ids) are accepted; any other gid is refused."},
        "trusted_global_ids": {**_STR_LIST, "default": [],
                               "description": "Other global ids whose tokens are accepted here."},
        "require_global_id": {"type": "boolean", "default": False,
                              "description": "Refuse tokens without a gid claim (global-only deployments)."},
        "extra_claims": {"type": "object", "default": {},
                         "description": "Claims added to every token `veneer token create` mints; "
                                        "reserved claims (iss, aud, sub, exp, gid, scope...) are refused."},
        "public_health": {"type": "boolean", "default": True,
                          "description": "Health endpoints answer without a token (server.public_health must "
                                         "allow it too)."},
        "public_metrics": {"type": "boolean", "default": True,
                           "description": "/metrics answers without a token (server.public_metrics must allow "
                                          "it too)."},
        "realm": {"type": "string", "minLength": 1, "default": "veneer",
                  "description": "Realm named in WWW-Authenticate."},
    },
}

SCHEMA = {
    "description": "Access tokens: 'none' to switch them off (local use; logged loudly), or the "
                   "verification settings.",
    "oneOf": [
        {"const": "none", "description": "No token checks at all."},
        AUTH_OBJECT,
    ],
}
