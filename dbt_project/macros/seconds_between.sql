{#-
    Seconds from one TIMESTAMPTZ to a later one, as elapsed time (dbt.datediff casts to a local
    TIMESTAMP first, which shifts by an hour across a daylight-saving change of the session zone).
-#}
{% macro seconds_between(earlier, later) -%}
    {{ return(adapter.dispatch('seconds_between', 'newsimpact')(earlier, later)) }}
{%- endmacro %}

{% macro default__seconds_between(earlier, later) -%}
    extract(epoch from ({{ later }} - {{ earlier }}))
{%- endmacro %}

{% macro duckdb__seconds_between(earlier, later) -%}
    (epoch({{ later }}) - epoch({{ earlier }}))
{%- endmacro %}
