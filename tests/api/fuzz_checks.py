"""Schemathesis checks of our own, loaded with SCHEMATHESIS_HOOKS=tests.api.fuzz_checks (tests/api/test_fuzz.py).

`positive_data_acceptance` can only allow a status, so schemathesis.toml lets a 422 answer the operations
where the spec documents one for a valid body; this check holds that 422 to the documented error types
(api/spec.py): any other 422 to a request the spec allows is a rule the spec hides.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from api.spec import REFUSED_THOUGH_VALID

# COMFYLOOM_FUZZ_AS_ITSELF=1: requests never name a user in X-On-Behalf-Of, which a user key may not do (403),
# so a stateful chain (a character, its sticker set, the same request again) reaches what it links to.
AS_ITSELF = os.environ.get("COMFYLOOM_FUZZ_AS_ITSELF") == "1"

# The 422 error types a request the schema allows may still get, as each operation's 422 documents.
DOCUMENTED_REFUSALS = set(REFUSED_THOUGH_VALID)


@schemathesis.check
def refused_only_as_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """A valid request answered 422 names a documented refusal."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"a 422 without the error shape: {response.text[:500]}") from None
    if error.get("type") not in DOCUMENTED_REFUSALS:
        raise AssertionError(
            f"a request the spec allows was refused as {error.get('type')!r}, which the spec does not document:"
            f" {error.get('message')}"
        )
    return None


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    """Only a valid request loses the header: a request meant to be invalid keeps what makes it so."""
    if AS_ITSELF and case.headers and case.meta is not None and case.meta.generation.mode.is_positive:
        case.headers.pop("X-On-Behalf-Of", None)
