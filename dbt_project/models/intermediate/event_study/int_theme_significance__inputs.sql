-- One row per theme test (theme, window, event filter): a fingerprint of everything its figures
-- read. A CAR's abnormal returns enter through its car, scar, n and positive share (a changed
-- return changes the market model's fit, and so these), so an unchanged fingerprint means an
-- unchanged test, and int_theme_significance__tests recomputes only the others.
{{ config(materialized='view') }}

select
    o.theme_code, o.window_start, o.window_end, o.event_filter,
    {{ newsimpact.set_fingerprint(['o.event_id', 'o.security_id', 'o.car', 's.scar', 's.n', 's.positive_share']) }}
        as input_fingerprint
from {{ ref('int_theme_significance__observations') }} as o
left join {{ ref('int_event_study__scar') }} as s
    using (event_id, security_id, window_start, window_end)
group by o.theme_code, o.window_start, o.window_end, o.event_filter
