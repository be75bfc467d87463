-- A human SMS click in the last `window_days` (default 14) before as_of.
{{ cohort_human_clicked_in_window('sms_clickers_14d', ref('fct_message_events')) }}
