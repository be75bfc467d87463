{#- The key of a Customer.io person: cio_id where present (immutable), else the
    `id`, else the lower-cased email. Prefixed so the three can never collide. -#}
{% macro person_key(cio_id, customer_id, email) -%}
    coalesce(
        {{ dbt.concat(["'cio:'", cio_id]) }},
        {{ dbt.concat(["'id:'", customer_id]) }},
        {{ dbt.concat(["'email:'", email]) }}
    )
{%- endmacro %}
