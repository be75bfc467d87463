{#- The cohort and audience registries: the vars `cohorts` and `audiences` in
    dbt_project.yml (a list of entries each, so a duplicate name can be caught; a YAML
    mapping would silently keep the last one). Each macro here returns the validated
    entries with every default filled in, or fails the build with a clear error that names
    the entry and the key. Nothing else reads the vars directly. -#}

{% macro cohort_signals() -%}
    {#- signal name -> (singular, plural) used in reasons -#}
    {{ return({
        'human_click': ['human click', 'human clicks'],
        'human_open': ['human open', 'human opens'],
        'delivery': ['delivery', 'deliveries'],
        'unsubscribe': ['unsubscribe', 'unsubscribes'],
        'conversion': ['conversion', 'conversions'],
        'purchase': ['purchase', 'purchases'],
    }) }}
{%- endmacro %}

{% macro message_intents() -%}
    {{ return(['cart', 'browse', 'post_purchase', 'winback', 'promo', 'other']) }}
{%- endmacro %}

{% macro cohort_shapes() -%}
    {#- shape -> required keys and optional keys with their defaults. `window_days` may
        be null (= ever, up to as_of) where the shape allows it. -#}
    {{ return({
        'engagement': {
            'required': ['event', 'window_days'],
            'optional': {'min_count': 1, 'max_count': none},
            'null_ok': ['window_days'],
        },
        'absence': {
            'required': ['received', 'absent', 'window_days'],
            'optional': {'min_received': 1},
            'null_ok': ['window_days'],
        },
        'sequence': {
            'required': ['first', 'then_no', 'within_hours', 'window_days'],
            'optional': {},
            'null_ok': ['window_days'],
        },
        'transition': {
            'required': ['event', 'quiet_days', 'since_days'],
            'optional': {},
            'null_ok': [],
        },
        'combination': {
            'required': ['all_of'],
            'optional': {'none_of': []},
            'null_ok': [],
        },
    }) }}
{%- endmacro %}

{% macro _registry_error(message) -%}
    {{ exceptions.raise_compiler_error("cohort registry (vars cohorts/audiences in dbt_project.yml): " ~ message) }}
{%- endmacro %}

{% macro _check_name(kind, name) -%}
    {%- if name is not string or not modules.re.match('^[a-z][a-z0-9_]{0,62}$', name) -%}
        {{ _registry_error(kind ~ " name " ~ (name | string) ~ " must be lower-case letters, digits and _ (starting with a letter)") }}
    {%- endif -%}
{%- endmacro %}

{% macro _check_positive_number(where, key, value, null_ok) -%}
    {%- if value is none -%}
        {%- if not null_ok -%}{{ _registry_error(where ~ ": '" ~ key ~ "' must be a positive number, not null") }}{%- endif -%}
    {%- elif value is boolean or value is not number or value <= 0 -%}
        {{ _registry_error(where ~ ": '" ~ key ~ "' must be a positive number; got " ~ (value | string)) }}
    {%- endif -%}
{%- endmacro %}

{% macro _check_count(where, key, value) -%}
    {%- if value is boolean or value is not integer or value < 0 -%}
        {{ _registry_error(where ~ ": '" ~ key ~ "' must be a whole number >= 0; got " ~ (value | string)) }}
    {%- endif -%}
{%- endmacro %}

{% macro _check_string_list(where, key, value, allowed=none) -%}
    {%- if value is string or value is mapping or value is not iterable -%}
        {{ _registry_error(where ~ ": '" ~ key ~ "' must be a list; got " ~ (value | string)) }}
    {%- endif -%}
    {%- for item in value -%}
        {%- if item is not string -%}
            {{ _registry_error(where ~ ": '" ~ key ~ "' must list names; got " ~ (item | string)) }}
        {%- elif allowed is not none and item not in allowed -%}
            {{ _registry_error(where ~ ": unknown " ~ key ~ " value '" ~ item ~ "' (known: " ~ allowed | join(', ') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}

{#- An event filter {signal, channels?, intents?}, validated; returns it with defaults. -#}
{% macro _event_filter(where, key, value) -%}
    {%- set where = where ~ " '" ~ key ~ "'" -%}
    {%- if value is not mapping -%}
        {{ _registry_error(where ~ " must be a mapping like {signal: human_click, channels: [email]}; got " ~ (value | string)) }}
    {%- endif -%}
    {%- for k in value -%}
        {%- if k not in ['signal', 'channels', 'intents'] -%}
            {{ _registry_error(where ~ ": unknown key '" ~ k ~ "' (known: signal, channels, intents)") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if 'signal' not in value -%}
        {{ _registry_error(where ~ " needs 'signal' (one of " ~ cohort_signals().keys() | sort | join(', ') ~ ")") }}
    {%- endif -%}
    {%- if value['signal'] not in cohort_signals() -%}
        {{ _registry_error(where ~ ": unknown signal '" ~ (value['signal'] | string) ~ "' (known: " ~ cohort_signals().keys() | sort | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set channels = value.get('channels') or [] -%}
    {%- set intents = value.get('intents') or [] -%}
    {{- _check_string_list(where, 'channels', channels) -}}
    {%- for channel in channels if not modules.re.match('^[a-z][a-z0-9_]*$', channel) -%}
        {{ _registry_error(where ~ ": channel '" ~ channel ~ "' is not a channel name (email, sms, push, ...)") }}
    {%- endfor -%}
    {{- _check_string_list(where, 'intents', intents, message_intents()) -}}
    {{ return({'signal': value['signal'], 'channels': channels, 'intents': intents}) }}
{%- endmacro %}

{#- The cohorts, validated, defaults filled, in dependency order (a combination comes
    after the cohorts it combines). -#}
{% macro cohort_registry() -%}
    {%- set raw = var('cohorts', none) -%}
    {%- if raw is none or raw is string or raw is mapping or raw is not iterable -%}
        {{ _registry_error("var cohorts must be a list of cohorts (- name: ..., shape: ..., ...)") }}
    {%- endif -%}
    {%- if raw | length == 0 -%}
        {{ _registry_error("var cohorts lists no cohort") }}
    {%- endif -%}
    {%- set shapes = cohort_shapes() -%}
    {%- set common = ['name', 'description', 'shape', 'push', 'amplitude_property'] -%}
    {%- set prefix = var('amplitude_cohort_property_prefix') -%}
    {%- set by_name = {} -%}
    {%- set names = [] -%}
    {%- for entry in raw -%}
        {%- if entry is not mapping or 'name' not in entry -%}
            {{ _registry_error("cohort #" ~ loop.index ~ " has no name: " ~ (entry | string)) }}
        {%- endif -%}
        {%- set name = entry['name'] -%}
        {{- _check_name('cohort', name) -}}
        {%- if name in by_name -%}
            {{ _registry_error("duplicate cohort name '" ~ name ~ "': each cohort needs its own name") }}
        {%- endif -%}
        {%- set where = "cohort '" ~ name ~ "'" -%}
        {%- if 'shape' not in entry -%}
            {{ _registry_error(where ~ " needs 'shape' (one of " ~ shapes.keys() | sort | join(', ') ~ ")") }}
        {%- endif -%}
        {%- set shape = entry['shape'] -%}
        {%- if shape not in shapes -%}
            {{ _registry_error(where ~ ": unknown shape '" ~ (shape | string) ~ "' (known: " ~ shapes.keys() | sort | join(', ') ~ ")") }}
        {%- endif -%}
        {%- set spec = shapes[shape] -%}
        {%- set where = where ~ " (shape " ~ shape ~ ")" -%}
        {%- if not entry.get('description') -%}
            {{ _registry_error(where ~ " needs 'description'") }}
        {%- endif -%}
        {%- for key in spec['required'] -%}
            {%- if key not in entry -%}
                {{ _registry_error(where ~ " needs '" ~ key ~ "'" ~ (" (null means ever)" if key in spec['null_ok'] else "")) }}
            {%- endif -%}
        {%- endfor -%}
        {%- for key in entry -%}
            {%- if key not in common and key not in spec['required'] and key not in spec['optional'] -%}
                {{ _registry_error(where ~ ": unknown parameter '" ~ key ~ "' (known: " ~ (spec['required'] + spec['optional'].keys() | list + common) | join(', ') ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        {%- set cohort = {'name': name, 'description': entry['description'], 'shape': shape,
                          'push': entry.get('push', true),
                          'amplitude_property': entry.get('amplitude_property') or prefix ~ name} -%}
        {%- if cohort['push'] is not boolean -%}
            {{ _registry_error(where ~ ": 'push' must be true or false") }}
        {%- endif -%}
        {%- for key, default in spec['optional'].items() -%}
            {%- do cohort.update({key: entry.get(key, default)}) -%}
        {%- endfor -%}
        {%- for key in spec['required'] -%}
            {%- do cohort.update({key: entry[key]}) -%}
        {%- endfor -%}
        {%- for key in ['event', 'received', 'absent', 'first', 'then_no'] if key in cohort -%}
            {%- do cohort.update({key: _event_filter(where, key, cohort[key])}) -%}
        {%- endfor -%}
        {%- for key in ['window_days', 'within_hours', 'quiet_days', 'since_days'] if key in cohort -%}
            {{- _check_positive_number(where, key, cohort[key], key in spec['null_ok']) -}}
        {%- endfor -%}
        {%- if shape == 'engagement' -%}
            {{- _check_count(where, 'min_count', cohort['min_count']) -}}
            {%- if cohort['max_count'] is not none -%}
                {{- _check_count(where, 'max_count', cohort['max_count']) -}}
                {%- if cohort['max_count'] < cohort['min_count'] -%}
                    {{ _registry_error(where ~ ": max_count " ~ cohort['max_count'] ~ " is below min_count " ~ cohort['min_count']) }}
                {%- endif -%}
            {%- elif cohort['min_count'] == 0 -%}
                {{ _registry_error(where ~ ": min_count 0 without max_count would be everyone; set max_count") }}
            {%- endif -%}
        {%- elif shape == 'absence' -%}
            {{- _check_count(where, 'min_received', cohort['min_received']) -}}
            {%- if cohort['min_received'] < 1 -%}
                {{ _registry_error(where ~ ": min_received must be at least 1") }}
            {%- endif -%}
        {%- elif shape == 'transition' -%}
            {%- if cohort['since_days'] <= cohort['quiet_days'] -%}
                {{ _registry_error(where ~ ": since_days (" ~ cohort['since_days'] ~ ") must be greater than quiet_days (" ~ cohort['quiet_days'] ~ ")") }}
            {%- endif -%}
        {%- elif shape == 'sequence' -%}
            {%- if cohort['window_days'] is not none and cohort['window_days'] * 24 <= cohort['within_hours'] -%}
                {{ _registry_error(where ~ ": window_days must be longer than within_hours, or no click could have a closed window") }}
            {%- endif -%}
        {%- elif shape == 'combination' -%}
            {{- _check_string_list(where, 'all_of', cohort['all_of']) -}}
            {{- _check_string_list(where, 'none_of', cohort['none_of']) -}}
            {%- if cohort['all_of'] | length == 0 -%}
                {{ _registry_error(where ~ ": all_of must name at least one cohort") }}
            {%- endif -%}
        {%- endif -%}
        {%- for other in by_name.values() if cohort['push'] and other['push'] and other['amplitude_property'] == cohort['amplitude_property'] -%}
            {{ _registry_error(where ~ " and cohort '" ~ other['name'] ~ "' would both set the Amplitude property " ~ cohort['amplitude_property']) }}
        {%- endfor -%}
        {%- do by_name.update({name: cohort}) -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {#- combinations: known cohorts, no cycles; order so a combination follows its parts -#}
    {%- for name in names if by_name[name]['shape'] == 'combination' -%}
        {%- for part in by_name[name]['all_of'] + by_name[name]['none_of'] -%}
            {%- if part not in by_name -%}
                {{ _registry_error("cohort '" ~ name ~ "' (shape combination) combines unknown cohort '" ~ part ~ "'") }}
            {%- elif part == name -%}
                {{ _registry_error("cohort '" ~ name ~ "' (shape combination) cannot combine itself") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set ordered = [] -%}
    {%- set placed = [] -%}
    {%- for _ in names -%}
        {%- for name in names if name not in placed -%}
            {%- set cohort = by_name[name] -%}
            {%- set parts = cohort['all_of'] + cohort['none_of'] if cohort['shape'] == 'combination' else [] -%}
            {%- if parts | reject('in', placed) | list | length == 0 -%}
                {%- do placed.append(name) -%}
                {%- do ordered.append(cohort) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if placed | length < names | length -%}
        {{ _registry_error("combinations form a cycle: " ~ names | reject('in', placed) | join(', ')) }}
    {%- endif -%}
    {{ return(ordered) }}
{%- endmacro %}

{% macro cohort_names() -%}
    {{ return(cohort_registry() | map(attribute='name') | list) }}
{%- endmacro %}

{#- The activation audiences, validated, defaults filled, in registry order. -#}
{% macro audience_registry() -%}
    {%- set raw = var('audiences', []) -%}
    {%- if raw is none -%}{%- set raw = [] -%}{%- endif -%}
    {%- if raw is string or raw is mapping or raw is not iterable -%}
        {{ _registry_error("var audiences must be a list of audiences (- name: ..., cohort: ..., ...)") }}
    {%- endif -%}
    {%- set registry = cohort_registry() -%}
    {%- set cohorts = registry | map(attribute='name') | list -%}
    {%- set properties = {} -%}
    {%- for cohort in registry if cohort['push'] -%}
        {%- do properties.update({cohort['amplitude_property']: "cohort '" ~ cohort['name'] ~ "'"}) -%}
    {%- endfor -%}
    {%- set prefix = var('amplitude_audience_property_prefix') -%}
    {%- set known = ['name', 'description', 'cohort', 'incentive', 'priority', 'suppress', 'push', 'amplitude_property'] -%}
    {%- set audiences = [] -%}
    {%- set names = [] -%}
    {%- set priorities = {} -%}
    {%- for entry in raw -%}
        {%- if entry is not mapping or 'name' not in entry -%}
            {{ _registry_error("audience #" ~ loop.index ~ " has no name: " ~ (entry | string)) }}
        {%- endif -%}
        {%- set name = entry['name'] -%}
        {{- _check_name('audience', name) -}}
        {%- set where = "audience '" ~ name ~ "'" -%}
        {%- if name in names -%}
            {{ _registry_error("duplicate audience name '" ~ name ~ "': each audience needs its own name") }}
        {%- elif name in cohorts -%}
            {{ _registry_error(where ~ " has the name of a cohort: audiences and cohorts share the push's namespace") }}
        {%- endif -%}
        {%- for key in entry if key not in known -%}
            {{ _registry_error(where ~ ": unknown parameter '" ~ key ~ "' (known: " ~ known | join(', ') ~ ")") }}
        {%- endfor -%}
        {%- for key in ['description', 'cohort'] if not entry.get(key) -%}
            {{ _registry_error(where ~ " needs '" ~ key ~ "'") }}
        {%- endfor -%}
        {%- if entry['cohort'] not in cohorts -%}
            {{ _registry_error(where ~ ": unknown cohort '" ~ entry['cohort'] ~ "'") }}
        {%- endif -%}
        {%- set suppress = entry.get('suppress') or [] -%}
        {{- _check_string_list(where, 'suppress', suppress, cohorts) -}}
        {%- set audience = {'name': name, 'description': entry['description'], 'cohort': entry['cohort'],
                            'incentive': entry.get('incentive', false), 'priority': entry.get('priority'),
                            'suppress': suppress, 'push': entry.get('push', true),
                            'amplitude_property': entry.get('amplitude_property') or prefix ~ name} -%}
        {%- for key in ['incentive', 'push'] if audience[key] is not boolean -%}
            {{ _registry_error(where ~ ": '" ~ key ~ "' must be true or false") }}
        {%- endfor -%}
        {%- if audience['priority'] is not none -%}
            {%- if not audience['incentive'] -%}
                {{ _registry_error(where ~ ": 'priority' only ranks incentive audiences; set incentive: true or drop it") }}
            {%- endif -%}
            {%- if audience['priority'] is boolean or audience['priority'] is not integer or audience['priority'] < 1 -%}
                {{ _registry_error(where ~ ": 'priority' must be a whole number >= 1 (1 wins)") }}
            {%- endif -%}
            {%- if audience['priority'] in priorities -%}
                {{ _registry_error(where ~ " and audience '" ~ priorities[audience['priority']] ~ "' share priority " ~ audience['priority'] ~ ": incentive priorities must differ") }}
            {%- endif -%}
            {%- do priorities.update({audience['priority']: name}) -%}
        {%- endif -%}
        {%- if audience['push'] -%}
            {%- if audience['amplitude_property'] in properties -%}
                {{ _registry_error(where ~ " and " ~ properties[audience['amplitude_property']] ~ " would both set the Amplitude property " ~ audience['amplitude_property']) }}
            {%- endif -%}
            {%- do properties.update({audience['amplitude_property']: where}) -%}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- do audiences.append(audience) -%}
    {%- endfor -%}
    {{ return(audiences) }}
{%- endmacro %}
