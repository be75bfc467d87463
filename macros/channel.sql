{#- Customer.io's channel name, normalised: the App API and activities say
    `twilio` for SMS, webhooks say `sms`. Customer (profile) events have no channel. -#}
{% macro normalize_channel(object_type) -%}
    case
        when {{ object_type }} = 'twilio' then 'sms'
        when {{ object_type }} = 'customer' then null
        else {{ object_type }}
    end
{%- endmacro %}
