{#- Helpers of the event-study models. Models pass var() values in as arguments (rather than the
    macros reading var() themselves) so that unit-test `overrides: vars:` reach them. -#}

{#- The configured event windows as a relation of (window_start, window_end) rows, e.g.
    event_windows_relation([[0, 0], [-1, 1]]) ->
    (select * from (values (0, 0), (-1, 1)) as w(window_start, window_end)). -#}
{% macro event_windows_relation(windows) -%}
    {%- if windows is string or windows | length == 0 -%}
        {{ exceptions.raise_compiler_error("var event_windows must be a non-empty list of [start, end] pairs, got " ~ windows) }}
    {%- endif -%}
    {%- set rows = [] -%}
    {%- for w in windows -%}
        {%- if w | length != 2 or (w[0] | int) > (w[1] | int) -%}
            {{ exceptions.raise_compiler_error("event window " ~ w ~ " is not a [start, end] pair with start <= end") }}
        {%- endif -%}
        {%- do rows.append("(" ~ (w[0] | int) ~ ", " ~ (w[1] | int) ~ ")") -%}
    {%- endfor -%}
    (select distinct cast(window_start as integer) as window_start, cast(window_end as integer) as window_end
     from (values {{ rows | join(', ') }}) as w(window_start, window_end))
{%- endmacro %}

{#- Relative days start..end (inclusive) as a relation with one INTEGER column rel_day. -#}
{% macro relative_days_relation(start, end) -%}
    {%- if (start | int) > (end | int) -%}
        {{ exceptions.raise_compiler_error("daily window start " ~ start ~ " is after its end " ~ end) }}
    {%- endif -%}
    (select cast(generate_series as integer) as rel_day from generate_series({{ start | int }}, {{ end | int }}))
{%- endmacro %}

{#- The relative days of each configured window as a relation of (window_start, window_end, rel_day)
    rows, rel_day = window_start..window_end: what an event's windows expand to, so that they meet
    the daily series on an exact (security, session) key rather than a session range. -#}
{% macro event_window_days_relation(windows) -%}
    {%- set windows_relation = event_windows_relation(windows) -%}
    {%- set first_day = windows | map('first') | map('int') | min -%}
    {%- set last_day = windows | map('last') | map('int') | max -%}
    (select w.window_start, w.window_end, r.rel_day
     from {{ windows_relation }} as w
     inner join {{ relative_days_relation(first_day, last_day) }} as r
         on r.rel_day between w.window_start and w.window_end)
{%- endmacro %}

{#- One BIGINT for a (security, session) pair: `security_key` numbers the securities 1..n and a
    session_index is a 0-based INTEGER, so no two pairs share a key. Joined on it rather than on
    (security_id, session_index), the full-scale abnormal returns' hash table fits DuckDB's memory
    limit instead of spilling (docs/sql-plans.md). -#}
{% macro security_session_key(security_key, session_index) -%}
    ({{ security_key }} * 4294967296 + {{ session_index }})
{%- endmacro %}

{#- A window-frame bound for a relative offset: -250 -> "250 preceding", 0 -> "current row", 3 -> "3 following". -#}
{% macro frame_bound(offset) -%}
    {%- set o = offset | int -%}
    {%- if o < 0 -%} {{ -o }} preceding
    {%- elif o == 0 -%} current row
    {%- else -%} {{ o }} following
    {%- endif -%}
{%- endmacro %}

{#- Relative tolerance for a numerically perfect market-model fit: SSR <= tolerance * Syy
    (R^2 within 1e-12 of 1) gives sigma = 0. tests/event_study_reference.py uses the same value. -#}
{% macro perfect_fit_tolerance() -%} 1e-12 {%- endmacro %}

{#- The market model's abnormal return AR = R - (alpha + beta * Rm): the one definition every
    mart uses (null when there is no model or a return is missing). -#}
{% macro abnormal_return(stock_return, benchmark_return, alpha, beta) -%}
    ({{ stock_return }} - ({{ alpha }} + {{ beta }} * {{ benchmark_return }}))
{%- endmacro %}
