{#-
    The UTC calendar date of a TIMESTAMPTZ, independent of the session time zone (a plain cast to
    DATE would use the connection's time zone in DuckDB and Postgres).
-#}
{% macro utc_date(expression) -%}
    {{ return(adapter.dispatch('utc_date', 'newsimpact')(expression)) }}
{%- endmacro %}

{% macro default__utc_date(expression) -%}
    cast(({{ expression }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro duckdb__utc_date(expression) -%}
    cast(timezone('UTC', {{ expression }}) as date)
{%- endmacro %}

{% macro snowflake__utc_date(expression) -%}
    cast(convert_timezone('UTC', {{ expression }}) as date)
{%- endmacro %}
