{#-
    A company name as a matching key, the SQL twin of `ingestion.names.company_name_key`:
    lower case, every run of characters that are not letters or digits becomes one space (a run
    of underscores too, on its own), trimmed; then the legal-form words of
    `company_legal_suffixes()` are dropped from the end, repeatedly ("NVIDIA CORP",
    "Nvidia Corporation", "Nvidia" -> "nvidia"; "BANK OF AMERICA CORP /DE/" -> "bank of america").
    The first word is never dropped, so a name that is only such words keeps them.
    tests/test_name_keys.py checks that both give the same key. Python first folds compatibility
    forms (NFKC: ligatures, full-width letters); DuckDB only has NFC, so the keys can differ only
    for names holding such characters.
-#}
{% macro company_name_key(expression) -%}
    {{ return(adapter.dispatch('company_name_key', 'newsimpact')(expression)) }}
{%- endmacro %}

{#- The same words, in the same order, as `ingestion.names.LEGAL_SUFFIXES`. -#}
{% macro company_legal_suffixes() -%}
    {{ return([
        'inc', 'incorporated', 'corp', 'corporation', 'co', 'company', 'companies', 'ltd', 'limited',
        'plc', 'llc', 'lp', 'llp', 'sa', 'ag', 'nv', 'se', 'oyj', 'asa', 'ab', 'spa', 'bv', 'gmbh',
        'holdings', 'holding', 'group', 'de', 'del', 'new'
    ]) }}
{%- endmacro %}

{% macro default__company_name_key(expression) -%}
    {%- set normalized -%}
        trim(regexp_replace(regexp_replace(lower({{ expression }}), '[^[:alnum:]_]+', ' ', 'g'), '_+', ' ', 'g'))
    {%- endset -%}
    coalesce(
        nullif(trim(regexp_replace({{ normalized }}, '([[:space:]]+({{ company_legal_suffixes() | join('|') }}))+$', '', 'g')), ''),
        {{ normalized }}
    )
{%- endmacro %}

{% macro duckdb__company_name_key(expression) -%}
    {#- \pL / \pN: any Unicode letter / digit (RE2), as Python's \w; NFC as the news bodies. -#}
    {%- set normalized -%}
        trim(regexp_replace(regexp_replace(lower(nfc_normalize({{ expression }})), '[^\pL\pN_]+', ' ', 'g'), '_+', ' ', 'g'))
    {%- endset -%}
    coalesce(
        nullif(trim(regexp_replace({{ normalized }}, '(\s+({{ company_legal_suffixes() | join('|') }}))+$', '')), ''),
        {{ normalized }}
    )
{%- endmacro %}
