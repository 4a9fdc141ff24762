"""Company names as matching keys: "NVIDIA CORP", "Nvidia Corporation" and "Nvidia" -> "nvidia".

The dbt macro `company_name_key` computes the same key in SQL; tests/ingestion/test_names.py
checks both on the same examples.
"""

from __future__ import annotations

import re
import unicodedata

# Legal-form words dropped from the END of a name (repeatedly: "Holdings, Inc." -> both go).
LEGAL_SUFFIXES = (
    "inc", "incorporated", "corp", "corporation", "co", "company", "companies", "ltd", "limited",
    "plc", "llc", "lp", "llp", "sa", "ag", "nv", "se", "oyj", "asa", "ab", "spa", "bv", "gmbh",
    "holdings", "holding", "group", "de", "del", "new",
)
_NOT_ALNUM = re.compile(r"[^\w]+|_+")
_SUFFIX_RUN = re.compile(r"(?:\s+(?:" + "|".join(LEGAL_SUFFIXES) + r"))+$")


def normalize_name(name: str) -> str:
    """Lower case; every run of characters that are not letters or digits becomes one space.

    The same rule as the dbt macro `normalize_entity_name`: "Facebook,  Inc." -> "facebook inc".
    """
    folded = unicodedata.normalize("NFKC", name).lower()
    return _NOT_ALNUM.sub(" ", folded).strip()


def company_name_key(name: str) -> str:
    """`normalize_name` without trailing legal-form words; a name that is only such words keeps
    them ("The Company" stays "the company")."""
    normalized = normalize_name(name)
    stripped = _SUFFIX_RUN.sub("", normalized).strip()
    return stripped or normalized
