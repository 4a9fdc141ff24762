{#- Trims a string and collapses every run of whitespace to one space ("Mark  Zuckerberg" -> "Mark Zuckerberg"). -#}
{% macro collapse_whitespace(expression) -%}
    {{ return(adapter.dispatch('collapse_whitespace', 'newsimpact')(expression)) }}
{%- endmacro %}

{% macro default__collapse_whitespace(expression) -%}
    trim(regexp_replace({{ expression }}, '[[:space:]]+', ' ', 'g'))
{%- endmacro %}

{% macro duckdb__collapse_whitespace(expression) -%}
    trim(regexp_replace({{ expression }}, '\s+', ' ', 'g'))
{%- endmacro %}

{% macro snowflake__collapse_whitespace(expression) -%}
    trim(regexp_replace({{ expression }}, '\\s+', ' '))
{%- endmacro %}
