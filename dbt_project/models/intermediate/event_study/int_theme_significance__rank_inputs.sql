-- One row per (theme test, event month): a fingerprint of the CARs whose Corrado ranks the
-- month's rank sums hold, from the same columns as int_theme_significance__inputs (a changed
-- abnormal return changes the fit, and so car, scar, n or positive share).
-- A table: both theme models' pre-hooks and missing groups read it, four scans of every CAR as a view.

select
    o.theme_code, o.window_start, o.window_end, o.event_filter, o.event_month,
    {{ newsimpact.set_fingerprint(['o.event_id', 'o.security_id', 'o.car', 's.scar', 's.n', 's.positive_share']) }}
        as input_fingerprint
from {{ ref('int_theme_significance__observations') }} as o
left join {{ ref('int_event_study__scar') }} as s
    using (event_id, security_id, window_start, window_end)
group by o.theme_code, o.window_start, o.window_end, o.event_filter, o.event_month
