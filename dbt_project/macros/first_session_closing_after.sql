{#-
    A select of (key_column, session_index): for each row of the relation `events`, the first
    session of the relation `sessions` (session_index, close_at) whose close_at is strictly after
    the row's time_column. Rows without such a session (no time, or a time at or after the last
    close) are left out.
-#}
{% macro first_session_closing_after(events, key_column, time_column, sessions) -%}
    {{ return(adapter.dispatch('first_session_closing_after', 'newsimpact')(events, key_column, time_column, sessions)) }}
{%- endmacro %}

{#- Portable, but the inequality join pairs every event with every later session. -#}
{% macro default__first_session_closing_after(events, key_column, time_column, sessions) -%}
    select
        {{ events }}.{{ key_column }},
        min({{ sessions }}.session_index) as session_index
    from {{ events }}
    inner join {{ sessions }}
        on {{ sessions }}.close_at > {{ events }}.{{ time_column }}
    group by {{ events }}.{{ key_column }}
{%- endmacro %}

{#- An ASOF join finds the nearest later close by a sorted merge: one match per event. close_at
    increases with session_index, so the nearest later close is the first such session. -#}
{% macro duckdb__first_session_closing_after(events, key_column, time_column, sessions) -%}
    select
        {{ events }}.{{ key_column }},
        {{ sessions }}.session_index
    from {{ events }}
    asof join {{ sessions }}
        on {{ sessions }}.close_at > {{ events }}.{{ time_column }}
{%- endmacro %}
