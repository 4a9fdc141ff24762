{#-
    Normalises a name for matching: lower case, every run of characters that are not letters or
    digits becomes one space, trimmed. "Facebook,  Inc." -> "facebook inc", "S&P 500" -> "s p 500".
    Used for alias matching and for the stable ids of entities found only in the news.
-#}
{% macro normalize_entity_name(expression) -%}
    {{ return(adapter.dispatch('normalize_entity_name', 'newsimpact')(expression)) }}
{%- endmacro %}

{% macro default__normalize_entity_name(expression) -%}
    trim(regexp_replace(lower({{ expression }}), '[^[:alnum:]]+', ' ', 'g'))
{%- endmacro %}

{% macro duckdb__normalize_entity_name(expression) -%}
    {#- \pL / \pN: any Unicode letter / digit (RE2), so "Nestlé" keeps its é. -#}
    trim(regexp_replace(lower({{ expression }}), '[^\pL\pN]+', ' ', 'g'))
{%- endmacro %}

{% macro snowflake__normalize_entity_name(expression) -%}
    trim(regexp_replace(lower({{ expression }}), '[^[:alnum:]]+', ' '))
{%- endmacro %}
