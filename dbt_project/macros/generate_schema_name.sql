{#- Schemas are named exactly as configured (`staging`, `marts`, ...), not `<target>_<schema>`:
    BI tools and other teams' models address them by these names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
