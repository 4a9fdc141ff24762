{#-
    Types an entity that is not in the reference seeds from its name and annotation description.

    Rule (documented in docs.md, block `entity_type_rule`): the text `name + ' ' + description` is
    normalised like names (lower case, non-alphanumerics -> one space, padded with spaces: see
    `entity_typing_text`), then
    searched for whole-word keywords of three kinds. The kind whose keyword occurs FIRST wins,
    because descriptions usually start with what the entity is ("X is the co-founder ...",
    "X is a technology company ..."). Nothing found -> 'other'.
-#}

{% macro entity_type_keywords() -%}
    {{ return({
        'person': [
            'chief executive', 'ceo', 'cfo', 'coo', 'co founder', 'cofounder', 'founder',
            'chairman', 'chairwoman', 'president', 'billionaire', 'entrepreneur', 'investor',
            'analyst', 'senator', 'minister', 'officer', 'executive', 'director', 'judge',
            'commissioner', 'spokesman', 'spokeswoman', 'spokesperson', 'engineer', 'economist',
            'lawyer', 'attorney', 'professor', 'journalist', 'contestant', 'champion',
            'he', 'she', 'his', 'her', 'him'
        ],
        'company': [
            'company', 'companies', 'inc', 'corp', 'corporation', 'firm', 'maker', 'manufacturer',
            'retailer', 'conglomerate', 'startup', 'start up', 'ltd', 'plc', 'llc', 'ag', 'sa', 'oyj',
            'bank', 'airline', 'automaker', 'chipmaker', 'carrier', 'brand', 'holdings',
            'operator', 'app', 'provider', 'subsidiary', 'platform'
        ],
        'organization': [
            'agency', 'commission', 'regulator', 'group', 'union', 'university', 'association',
            'court', 'government', 'ministry', 'department', 'authority', 'institute',
            'organization', 'organisation', 'foundation', 'committee', 'council', 'parliament',
            'congress', 'nonprofit', 'non profit', 'federal reserve'
        ]
    }) }}
{%- endmacro %}

{% macro entity_keyword_position(typing_text, entity_type) -%}
    {#- typing_text: a column holding ' ' || normalize_entity_name(name || ' ' || description) || ' ';
        the position of the first keyword of `entity_type` in it, 1000000 if none -#}
    {%- set positions = [] -%}
    {%- for word in entity_type_keywords()[entity_type] -%}
        {%- do positions.append("coalesce(nullif(" ~ dbt.position("' " ~ word ~ " '", typing_text) ~ ", 0), 1000000)") -%}
    {%- endfor -%}
    least({{ positions | join(', ') }})
{%- endmacro %}

{% macro infer_entity_type(person_at, company_at, organization_at) -%}
    {#- the three `entity_keyword_position`s as columns: a CASE repeats each, and the database
        evaluates an expression under a CASE each time it appears -#}
    case
        when least({{ person_at }}, {{ company_at }}, {{ organization_at }}) = 1000000 then 'other'
        when {{ person_at }} <= {{ company_at }} and {{ person_at }} <= {{ organization_at }} then 'person'
        when {{ company_at }} <= {{ organization_at }} then 'company'
        else 'organization'
    end
{%- endmacro %}

{% macro entity_typing_text(name_expression, description_expression) -%}
    (' ' || {{ normalize_entity_name("coalesce(" ~ name_expression ~ ", '') || ' ' || coalesce(" ~ description_expression ~ ", '')") }} || ' ')
{%- endmacro %}
