{#- Helpers of the incremental price and event-study models (docs/incremental.md). -#}

{#- An order-independent fingerprint of a set of rows: the XOR of a hash of each row's columns.
    Equal sets of distinct rows give equal fingerprints; a changed, added or removed row changes it. -#}
{% macro set_fingerprint(columns) -%}
    {{ return(adapter.dispatch('set_fingerprint', 'newsimpact')(columns)) }}
{%- endmacro %}

{% macro default__set_fingerprint(columns) -%}
    bit_xor(hash({{ columns | join(', ') }}))
{%- endmacro %}

{#- The fingerprint of the union of disjoint sets from theirs (set_fingerprint's XOR is associative). -#}
{% macro combine_fingerprints(column) -%}
    {{ return(adapter.dispatch('combine_fingerprints', 'newsimpact')(column)) }}
{%- endmacro %}

{% macro default__combine_fingerprints(column) -%}
    bit_xor({{ column }})
{%- endmacro %}

{#- The relation an incremental model left in the warehouse, or none (first build, full refresh).
    A model reads its upstream's previous state through this rather than ref(), which would be the
    upstream as rebuilt in this run. -#}
{% macro previous_state(model_name, schema=none) -%}
    {%- if flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
    {%- set schema = this.schema if schema is none else schema -%}
    {{ return(adapter.get_relation(database=this.database, schema=schema, identifier=model_name)) }}
{%- endmacro %}

{#- Rolling window aggregates are summed by DuckDB over a segment tree whose nodes are aligned to
    the start of each partition (fan-out 16). Recomputing the tail of a series from a start that is
    a multiple of the node size covering the frame (a power of 16 at least the frame's length) past
    the series start combines the same nodes in the same order, so the tail is bit-identical to a
    full rebuild's; any other start differs in the last bit. tests/test_incremental.py checks it. -#}
{% macro segment_tree_alignment(frame_rows) -%}
    {%- set size = namespace(value=16) -%}
    {%- for _ in range(8) if size.value < (frame_rows | int) -%}{%- set size.value = size.value * 16 -%}{%- endfor -%}
    {{ size.value }}
{%- endmacro %}

{#- The first session of a series to read so that rows from `recompute_from` on are computed from
    the same segment-tree nodes as in a full build: `recompute_from + frame_start` rounded down to
    the alignment past `series_start`, never before `series_start`. -#}
{% macro aligned_input_start(series_start, recompute_from, frame_start, frame_rows) -%}
    {%- set alignment = segment_tree_alignment(frame_rows) | trim -%}
    greatest({{ series_start }},
        {{ series_start }} + {{ alignment }} * floor(({{ recompute_from }} + ({{ frame_start }}) - {{ series_start }}) / {{ alignment }}))
{%- endmacro %}

{#- The same for a table keyed by (security_id, session_date), which has no session index. -#}
{% macro delete_recomputed_days(changes, sessions) -%}
    delete from {{ this }} as target
    using {{ changes }} as changes, {{ sessions }} as sessions
    where target.security_id = changes.security_id
      and sessions.session_index = changes.recompute_from_index
      and target.session_date >= sessions.session_date
{%- endmacro %}

{#- The first session index whose market model a changed security (`changes`, a row of
    int_prices__changes) recomputes: model k reads returns up to k + E2, so a return changed from
    session j changes the models from j - max(E2, 0) on. -#}
{% macro first_changed_model_index(changes='changes') -%}
    {{ changes }}.recompute_from_index - {{ [var('estimation_window_end') | int, 0] | max }}
{%- endmacro %}

{#- The pre-hook of mart_entity_daily: delete the rows that differ from `current`
    (int_entities__daily_mentions: mentions, sentiment, security, ticker) or are gone from it, and
    each recomputed security's rows from the first session whose return or market model changed
    (`changes`: int_prices__changes). -#}
{% macro delete_changed_entity_days(current, changes, sessions) -%}
    delete from {{ this }} as target
    where not exists (
            select 1 from {{ current }} as c
            where c.entity_id = target.entity_id
              and c.session = target.session
              and c.mention_count = target.mention_count
              and c.avg_sentiment is not distinct from target.avg_sentiment
              and c.security_id is not distinct from target.security_id
              and c.ticker is not distinct from target.ticker
        )
        or exists (
            select 1 from {{ changes }} as changes
            inner join {{ sessions }} as sessions
                on sessions.session_date = target.session
            where changes.security_id = target.security_id
              and sessions.session_index >= {{ first_changed_model_index() }}
        )
{%- endmacro %}

{#- How many sessions after an event's day 0 its rows read returns (the event windows, the daily
    plots, the estimation window's end): a series changed from session j changes the events whose
    day 0 is at or after j minus this. -#}
{% macro event_reach(event_windows, estimation_window_end, daily_window_end) -%}
    {%- set ends = [estimation_window_end | int, daily_window_end | int, 0] -%}
    {%- for w in event_windows -%}{%- do ends.append(w[1] | int) -%}{%- endfor -%}
    {{ ends | max }}
{%- endmacro %}

{#- The widest event window's b - a: two windows of that width overlap when their days 0 are at
    most that many sessions apart. -#}
{% macro widest_event_window(event_windows) -%}
    {%- set widths = [] -%}
    {%- for w in event_windows -%}{%- do widths.append((w[1] | int) - (w[0] | int)) -%}{%- endfor -%}
    {{ widths | max }}
{%- endmacro %}

{#- The pre-hook of an incremental model keyed by (event_id, security_id): delete the rows of the
    changed pairs (`changes`: int_events__changes or int_event_windows__changes). -#}
{% macro delete_changed_events(changes) -%}
    delete from {{ this }} as target
    using {{ changes }} as changes
    where target.event_id = changes.event_id
      and target.security_id = changes.security_id
{%- endmacro %}

{#- The sessions the (changed) events of `events` read, from `first_day` to `last_day` around their
    day 0 (event_session_index): a condition on `session_column` of a series keyed by session.
    DuckDB then skips the older row groups by their min/max rather than joining the whole history
    to a night's few events (a range holding every event's days gives the same rows; a full build
    spans the history). -#}
{% macro within_event_days(session_column, events, first_day, last_day) -%}
    {{ session_column }} between (select min(event_session_index) from {{ events }}) + {{ first_day }}
        and (select max(event_session_index) from {{ events }}) + {{ last_day }}
{%- endmacro %}

{#- The pre-hook of an incremental model keyed by (security_id, session_index): delete the rows of
    each changed security from its `from_column` (a column or expression over `changes`) on. -#}
{% macro delete_recomputed_rows(changes, from_column) -%}
    delete from {{ this }} as target
    using {{ changes }} as changes
    where target.security_id = changes.security_id
      and target.session_index >= {{ from_column }}
{%- endmacro %}

{#- In an incremental run, keep only the (event, security) pairs to recompute: a join clause on the
    links relation `alias`. -#}
{% macro changed_events_only(alias, changes) -%}
    {%- if is_incremental() %}
    inner join {{ changes }} as changes
        on changes.event_id = {{ alias }}.event_id
        and changes.security_id = {{ alias }}.security_id
    {%- endif %}
{%- endmacro %}

{#- Pre-hook of a model incremental per group: delete the groups whose fingerprint in `inputs`
    changed or that `inputs` no longer has. -#}
{% macro delete_changed_tests(inputs, key_columns) -%}
    delete from {{ this }} as target
    where not exists (
        select 1 from {{ inputs }} as inputs
        where inputs.input_fingerprint = target.input_fingerprint
        {%- for column in key_columns %}
          and inputs.{{ column }} = target.{{ column }}
        {%- endfor %}
    )
{%- endmacro %}

{#- Post-hook of an incremental Python model: dbt-duckdb writes a night's rows to a table named
    <model>__dbt_tmp<timestamp> in the main schema and, taking it for a temporary table, never
    drops it, so the work file would keep one per night. -#}
{% macro drop_python_temp_tables() -%}
    {{ return(adapter.dispatch('drop_python_temp_tables', 'newsimpact')()) }}
{%- endmacro %}

{% macro default__drop_python_temp_tables() -%}
    select 1
{%- endmacro %}

{% macro duckdb__drop_python_temp_tables() -%}
    {%- if execute -%}
        {%- set leftovers = run_query(
            "select schema_name, table_name from duckdb_tables() where database_name = '" ~ this.database
            ~ "' and not temporary and starts_with(table_name, '" ~ this.identifier ~ "__dbt_tmp')") -%}
        {%- for row in leftovers.rows %}
    drop table if exists "{{ row[0] }}"."{{ row[1] }}";
        {%- else %}
    select 1
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- After-commit hook of every model: DuckDB keeps the blocks a model wrote (and the indexes it
    touched) in memory until a checkpoint, and the one connection dbt runs its models on does not
    checkpoint by itself between them; at 5,000 tickers a night's appends filled the 2 GB limit
    and the next model ran out of memory. A checkpoint writes them out, so each model starts with
    the memory limit free. -#}
{% macro checkpoint_after_model() -%}
    {{ return(adapter.dispatch('checkpoint_after_model', 'newsimpact')()) }}
{%- endmacro %}

{% macro default__checkpoint_after_model() -%}
    select 1
{%- endmacro %}

{% macro duckdb__checkpoint_after_model() -%}
    checkpoint
{%- endmacro %}

{#- The pre-hooks of an incremental model of a large table: in an incremental run, `delete` (SQL
    rendered at run time: the rows the model replaces) before the model's transaction, then a
    checkpoint. DuckDB keeps the blocks a delete touched in memory until a checkpoint: a night's
    delete from the 125 M abnormal returns kept 1.4 GB, and the insert after it ran out of the
    2 GB limit. A model that fails after its delete leaves no build key, so the next build is a
    full refresh. -#}
{% macro delete_before_begin(delete) -%}
    {{ return([
        before_begin("{% if is_incremental() %}" ~ delete ~ "{% endif %}"),
        before_begin("{{ checkpoint_after_model() }}"),
    ]) }}
{%- endmacro %}
