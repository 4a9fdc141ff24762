-- One row per theme test (theme, window, event filter): a fingerprint of everything its figures
-- read, combined from its months' fingerprints (int_theme_significance__rank_inputs). An
-- unchanged fingerprint means an unchanged test, and int_theme_significance__tests recomputes
-- only the others.
{{ config(materialized='view') }}

select
    theme_code, window_start, window_end, event_filter,
    {{ newsimpact.combine_fingerprints('input_fingerprint') }} as input_fingerprint
from {{ ref('int_theme_significance__rank_inputs') }}
group by theme_code, window_start, window_end, event_filter
