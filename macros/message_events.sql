{#- The columns every source's message-event model provides, in this order (the
    contract the union in int_messaging__events_unioned relies on). Ids are text,
    times UTC timestamps without time zone, flags booleans. -#}
{% macro message_event_columns() -%}
    {{ return([
        'event_id', 'event_source', 'delivery_id', 'person_key', 'object_type', 'channel', 'metric',
        'is_known_event', 'occurred_at', 'customer_id', 'email', 'cio_id', 'parent_type', 'parent_id',
        'campaign_id', 'broadcast_id', 'newsletter_id', 'transactional_message_id', 'action_id',
        'parent_action_id', 'content_id', 'trigger_id', 'journey_id', 'href', 'link_id', 'is_machine',
        'is_proxied', 'is_prefetched', 'is_synthetic', 'failure_message', 'loaded_at', 'source_file',
    ]) }}
{%- endmacro %}

{#- Where the same fact can come from several sources: which one wins. Webhooks carry every
    occurrence with its machine flags; the Data Warehouse Sync metrics do too; the App API
    keeps only the first time each metric was reached per delivery.
    `rows_replaced`: whether a later load can replace a row of the source with one that says
    something else (another person, another metric time): an App API delivery re-read, a Data
    Warehouse Sync re-export. Webhook rows never are: the loader keeps the first row of each
    event_id (raw_customerio.webhook_events is append-only). -#}
{% macro message_event_sources() -%}
    {{ return([
        {'model': 'stg_customerio__message_events', 'event_source': 'webhook', 'precedence': 1, 'rows_replaced': false},
        {'model': 'int_customerio_dw__message_events', 'event_source': 'dw_sync', 'precedence': 2, 'rows_replaced': true},
        {'model': 'int_customerio_api__message_events', 'event_source': 'app_api', 'precedence': 3, 'rows_replaced': true},
    ]) }}
{%- endmacro %}

{#- The event_source values of the sources whose rows a later load can replace. -#}
{% macro replaced_row_sources() -%}
    {{ return(message_event_sources() | selectattr('rows_replaced') | map(attribute='event_source') | list) }}
{%- endmacro %}
