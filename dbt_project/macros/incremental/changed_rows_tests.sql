{#- dbt's data tests read their model through get_where_subquery. On the incremental models they
    read only the rows this build recomputed (the keys of the change tables: every row after a
    full refresh), so a night's tests cost what the night changed, not the history. Rows a build
    keeps were tested by the build that wrote them. -#}
{% macro duckdb__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set changed = newsimpact.changed_rows_condition(relation) -%}
    {%- set conditions = [where, changed] | select | list -%}
    {%- if conditions -%}
        {%- do return("(select * from " ~ relation ~ " as tested where " ~ conditions | join(" and ") ~ ") dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The rows of an incremental model this build recomputed, as a condition on `tested`; '' for
    every other relation, and on a full refresh, which recomputed every row (the condition would
    only cost a semi-join of the whole table). -#}
{% macro changed_rows_condition(relation) -%}
    {%- if flags.FULL_REFRESH -%}
        {%- do return('') -%}
    {%- endif -%}
    {%- set by_session = ['int_prices__daily_returns', 'int_market_model__rolling'] -%}
    {#- model keyed by (event, security) -> the change table listing its recomputed pairs -#}
    {%- set by_event = {
        'int_event_study__abnormal_returns': 'int_events__changes',
        'int_event_study__scar': 'int_events__changes',
        'fct_event_impact': 'int_events__changes',
        'fct_abnormal_return_daily': 'int_events__changes',
        'int_event_windows__overlaps': 'int_event_windows__changes',
        'fct_event_scar': 'int_event_windows__changes',
    } -%}
    {%- set name = relation.identifier -%}
    {%- set price_changes = api.Relation.create(database=relation.database, schema='intermediate', identifier='int_prices__changes') -%}
    {%- if name in by_session -%}
        {%- set recomputed_from = newsimpact.first_changed_model_index() | trim -%}
        {%- do return(newsimpact.recomputed_days_condition(price_changes, recomputed_from, "tested.session_index")) -%}
    {%- elif name == 'fct_security_price_daily' -%}
        {#- keyed by (security, session date): the days from the session of each change on -#}
        {%- set sessions = api.Relation.create(database=relation.database, schema='staging', identifier='stg_calendar__sessions') -%}
        {%- set changes_from = "(select changes.security_id, sessions.session_date as recompute_from from "
            ~ price_changes ~ " as changes inner join " ~ sessions ~ " as sessions"
            ~ " on sessions.session_index = changes.recompute_from_index)" -%}
        {%- do return(newsimpact.recomputed_days_condition(changes_from, "changes.recompute_from", "tested.session_date")) -%}
    {%- elif name in by_event -%}
        {%- do return("exists (select 1 from " ~ api.Relation.create(database=relation.database, schema='intermediate', identifier=by_event[name]) ~ " as changes"
            ~ " where changes.event_id = tested.event_id and changes.security_id = tested.security_id)") -%}
    {%- endif -%}
    {%- do return('') -%}
{%- endmacro %}

{#- The rows of `tested` from each changed security's first recomputed day (`recomputed_from`, an
    expression over `changes`) on. The EXISTS implies the bound by the earliest such day; stated
    first, the bound lets DuckDB skip the older row groups by their min/max: on a night that
    appended one session, 1.9 to 2.6 s to 0.01 s over the 12.6 M daily prices. -#}
{% macro recomputed_days_condition(changes, recomputed_from, tested_day) -%}
    {%- do return(tested_day ~ " >= (select min(" ~ recomputed_from ~ ") from " ~ changes ~ " as changes)"
        ~ " and exists (select 1 from " ~ changes ~ " as changes"
        ~ " where changes.security_id = tested.security_id and " ~ tested_day ~ " >= " ~ recomputed_from ~ ")") -%}
{%- endmacro %}
