{#- The object_type.metric pairs of the official Reporting Webhooks spec (customerio-formats
    §1.5): the same list as KNOWN_METRICS in
    loaders/msgmetrics/sources/customerio_webhooks/settings.py, which flags webhook events
    at load time (tests/python/test_dw_sync_models.py keeps the two equal). Used where the
    flag is computed in SQL (the Data Warehouse Sync metrics). -#}
{% macro customerio_known_event_pairs() -%}
    {{ return([
        'customer.subscribed', 'customer.unsubscribed', 'customer.cio_subscription_preferences_changed',
        'email.drafted', 'email.attempted', 'email.sent', 'email.delivered', 'email.opened', 'email.clicked',
        'email.converted', 'email.unsubscribed', 'email.bounced', 'email.dropped', 'email.spammed',
        'email.failed', 'email.undeliverable',
        'push.drafted', 'push.attempted', 'push.sent', 'push.delivered', 'push.opened', 'push.clicked',
        'push.converted', 'push.bounced', 'push.dropped', 'push.failed', 'push.undeliverable',
        'sms.drafted', 'sms.attempted', 'sms.sent', 'sms.delivered', 'sms.clicked', 'sms.converted',
        'sms.bounced', 'sms.failed', 'sms.undeliverable', 'sms.replied',
        'whatsapp.drafted', 'whatsapp.attempted', 'whatsapp.sent', 'whatsapp.delivered', 'whatsapp.opened',
        'whatsapp.clicked', 'whatsapp.converted', 'whatsapp.bounced', 'whatsapp.dropped', 'whatsapp.failed',
        'whatsapp.undeliverable', 'whatsapp.replied',
        'in_app.drafted', 'in_app.attempted', 'in_app.sent', 'in_app.opened', 'in_app.clicked',
        'in_app.converted', 'in_app.failed', 'in_app.undeliverable',
        'slack.drafted', 'slack.attempted', 'slack.sent', 'slack.clicked', 'slack.failed', 'slack.undeliverable',
        'webhook.drafted', 'webhook.attempted', 'webhook.sent', 'webhook.clicked', 'webhook.failed',
        'webhook.undeliverable',
    ]) }}
{%- endmacro %}
