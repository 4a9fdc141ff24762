{#- An ordered array of the values of a group (DuckDB `list`, elsewhere `array_agg`). -#}
{% macro ordered_array_agg(expression, order_by_expression) -%}
    {{ return(adapter.dispatch('ordered_array_agg', 'newsimpact')(expression, order_by_expression)) }}
{%- endmacro %}

{% macro default__ordered_array_agg(expression, order_by_expression) -%}
    array_agg({{ expression }} order by {{ order_by_expression }})
{%- endmacro %}

{% macro duckdb__ordered_array_agg(expression, order_by_expression) -%}
    list({{ expression }} order by {{ order_by_expression }})
{%- endmacro %}
