-- One row per (theme, configured window, event filter): the event-study tests of
-- int_theme_significance__tests, n_events = 0 and null figures where no ok CAR qualifies.
with themes as (
    select theme_code from {{ ref('dim_theme') }}
),

windows as (
    select * from {{ event_windows_relation(var('event_windows')) }}
),

event_filters as (
    select * from (values ('all'), ('unconfounded')) as f(event_filter)
),

tests as (
    select * from {{ ref('int_theme_significance__tests') }}
)

select
    cast(t.theme_code as varchar) as theme_code,
    cast(w.window_start as integer) as window_start,
    cast(w.window_end as integer) as window_end,
    cast(f.event_filter as varchar) as event_filter,
    cast(coalesce(s.n_events, 0) as integer) as n_events,
    {%- for column in ['caar', 'caar_se', 'caar_ci_low', 'caar_ci_high', 't_cross_section', 'p_cross_section',
                       'patell_z', 'p_patell', 'bmp_t', 'p_bmp', 'kp_t', 'p_kp', 'corrado_t', 'p_corrado',
                       'sign_z', 'p_sign'] %}
    cast(s.{{ column }} as double) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
from themes as t
cross join windows as w
cross join event_filters as f
left join tests as s
    on s.theme_code = t.theme_code
    and s.window_start = w.window_start
    and s.window_end = w.window_end
    and s.event_filter = f.event_filter
