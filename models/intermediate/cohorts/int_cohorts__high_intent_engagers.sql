-- A human click (not machine-flagged) on any configured channel in the last
-- `window_days` (default 7) before as_of.
{{ cohort_human_clicked_in_window('high_intent_engagers', ref('fct_message_events')) }}
