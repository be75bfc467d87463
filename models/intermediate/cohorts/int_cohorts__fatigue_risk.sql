-- At least `min_deliveries` (default 5) deliveries delivered in the last
-- `window_days` (default 14) before as_of and no human click in that window.
{{ cohort_delivered_without_click('fatigue_risk', ref('fct_message_events')) }}
