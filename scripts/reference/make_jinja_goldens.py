#!/usr/bin/env python3
"""Small Jinja templates, each aimed at one language feature, rendered by Python jinja2 configured as transformers
configures chat templates. Writes tests/tokenizer/data/jinja_cases.json: per case the template, its variables and
the output, or the fact that jinja2 raised (the message too, for information). frugal's engine must agree.

Usage: python3 scripts/reference/make_jinja_goldens.py [--out tests/tokenizer/data/jinja_cases.json]
"""
import argparse
import datetime
import json
import os

import jinja2
from transformers.utils.chat_template_utils import _compile_jinja_template

FIXED_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0)

MSGS = [{"role": "system", "content": "sys"}, {"role": "user", "content": "Hi <there> & 'you'"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]
TOOLS = [{"type": "function", "function": {"name": "f", "description": "does f", "parameters": {
    "type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "string", "enum": ["a", "b"]}},
    "required": ["x"]}}}]

CASES = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("a\n  {% if true %}\n  b\n  {% endif %}\nc", {}),
    ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("a\n  {%+ if true %}b{% endif +%}\nc", {}),
    ("{# comment #}\nx\n  {# indented comment #}\ny", {}),
    ("{{ 'a' }}\n{{ 'b' -}}\n   c", {}),
    ("x {{- ' y ' -}} z", {}),
    ("line1\n\t{% set a = 1 %}\n\tline2 {{ a }}", {}),
    ("{% raw %}{{ not evaluated }} {% if %}{% endraw %}\nafter", {}),
    ("a\r\n  {% if true %}\r\nb{% endif %}", {}),
    ("{%- for i in range(3) %}\n  item {{ i }}\n{%- endfor %}", {}),
    # literals and printing
    ("{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 123456789012345678 }} {{ 1e16 }} {{ -0.0 }}", {}),
    ("{{ true }} {{ True }} {{ none }} {{ None }} {{ false }}", {}),
    ("{{ 'single' }} {{ \"double\" }} {{ 'a' 'b' }} {{ 'esc\\n\\t\\\\' }} {{ 'q\\'s' }} {{ '\\u00e9\\x41' }}", {}),
    ("{{ [1, 'a', none, true, 2.5] }} {{ (1,) }} {{ (1, 2) }} {{ () }} {{ {'a': 1, 'b': [2]} }} {{ {} }}", {}),
    ("{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', '\\n', '\\x07', 'é', '\\u200b'] }}", {}),
    ("{{ x }}|{{ y }}|{{ z }}", {"x": [1, {"k": None}], "y": {"nested": {"a": [True, False]}}, "z": "plain"}),
    ("{{ 1_000 }} {{ 0.5e1 }} {{ 2**10 }} {{ 2**0.5 }} {{ 2**62 }} {{ (-2)**3 }}", {}),
    # operators
    ("{{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 % 2 }} {{ 6 / 3 }} {{ 1 + 2 * 3 - 4 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ 3 * 'x' }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 'a' + 'b' }}", {}),
    ("{{ 1 ~ 2 + 3 }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1, 2] == [1, 2] }} {{ 'a' < 'b' }} {{ (1, 2) < (1, 3) }}", {}),
    ("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in none_list }}", {"none_list": []}),
    ("{{ not true }} {{ not 0 }} {{ true and 'x' }} {{ 0 or 'y' }} {{ '' or [] }} {{ none and 1 }} {{ not x is defined }}", {}),
    ("{{ 'yes' if x else 'no' }} {{ 'yes' if y }}|{{ 1 if false else 2 if false else 3 }}", {"x": 1, "y": 0}),
    ("{{ -x }} {{ +x }} {{ -x|abs }} {{ - 2 ** 2 }}", {"x": 3}),
    ("{{ 1 < 'a' }}", {}),
    # variables, attributes, items, slices
    ("{{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ m.missing is defined }} {{ m['missing'] is undefined }}", {"m": MSGS[1]}),
    ("{{ l[0] }} {{ l[-1] }} {{ l[10] }}| {{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[5:1:-2] }}", {"l": [0, 1, 2, 3, 4, 5, 6]}),
    ("{{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s|length }}", {"s": "héllo wörld"}),
    ("{{ missing.attr }}", {}),
    ("{{ missing }}|{{ missing ~ 'x' }}|{{ missing|default('d') }}|{{ missing|length }}", {}),
    ("{{ m['items'] }} {{ m.get('items') }} {{ m.get('nope') }} {{ m.get('nope', 5) }}", {"m": {"items": 1}}),
    ("{{ x.0 }} {{ x.1 }}", {"x": ["a", "b"]}),
    ("{{ none.attr }}|{{ (none.attr) is defined }}", {}),
    ("{{ n[0] }}", {"n": None}),
    ("{{ (n[0]) is defined }}", {"n": None}),
    # for loops
    ("{% for m in msgs %}{{ loop.index }}/{{ loop.length }}:{{ m.role }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}{{ loop.revindex }},{% endfor %}", {"msgs": MSGS}),
    ("{% for m in msgs %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}", {"msgs": MSGS}),
    ("{% for m in msgs if m.role == 'user' %}{{ loop.index0 }}{{ m.content[:2] }}{% endfor %}", {"msgs": MSGS}),
    ("{% for x in [] %}a{% else %}empty{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}", {}),
    ("{% for c in 'héj' %}[{{ c }}]{% endfor %}", {}),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("{% for i in [1,2] %}{% for j in [3,4] %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{% endfor %}", {}),
    ("{% for x in none %}{% endfor %}", {}),
    ("{% for x in undefined_var %}x{% endfor %}ok", {}),
    ("{{ range(5) | list }} {{ range(2, 8, 3) | list }} {{ range(5, 0, -2) | list }}", {}),
    ("{{ range(200000) | length }}", {}),
    # scoping
    ("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% set ns = namespace(x=1, found=false) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }} {{ ns.found }}", {}),
    ("{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}", {}),
    ("{% set x %}block {{ 1 + 1 }} {% endset %}[{{ x }}]{% set y | upper %}shout{% endset %}{{ y }}", {}),
    ("{% set ns = namespace() %}{% set ns._private = 1 %}", {}),
    ("{% set d = {'a': 1} %}{% set d.a = 2 %}", {}),
    ("{% set ns = namespace(d={'a': 1}) %}{{ ns.d.a }} {{ ns }}", {}),
    ("{% set x = 3 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 4 %}{{ m() }}", {}),
    # macros
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }}", {}),
    ("{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}", {}),
    ("{% macro m(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ m(1) }}", {}),
    ("{% macro outer() %}<{{ inner() }}>{% endmacro %}{% macro inner() %}in{% endmacro %}{{ outer() }}", {}),
    ("{% macro m() %}{{ caller() }}!{% endmacro %}{% call m() %}called{% endcall %}", {}),
    ("{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }}", {}),
    ("{% macro m() %}x{% endmacro %}{{ m() + 'y' }} {{ m() | length }}", {}),
    # filters
    ("{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'Hello'|upper }}|{{ 'Hello'|lower }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}", {}),
    ("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a', 'C']|sort }} {{ ['b', 'A', 'a']|sort(case_sensitive=true) }} {{ [3, 1]|sort(reverse=true) }}", {}),
    ("{{ msgs|sort(attribute='role')|map(attribute='content')|list }}", {"msgs": MSGS}),
    ("{{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }} {{ msgs|join('|', attribute='role') }}", {"msgs": MSGS}),
    ("{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='role')|join(',') }}", {"msgs": MSGS}),
    ("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 5, 7]|select('gt', 4)|list }}", {}),
    ("{{ ['a', 'b']|map('upper')|list }} {{ msgs|map(attribute='nope', default='d')|list }}", {"msgs": MSGS[:2]}),
    ("{{ msgs|selectattr('role', 'equalto', 'user')|first }}", {"msgs": MSGS}),
    ("{{ [1, 2]|first }} {{ [1, 2]|last }} {{ []|first }}|{{ 'abc'|first }} {{ 'abc'|last }}", {}),
    ("{{ [1, 2]|map('string')|list|tojson }}", {}),
    ("{{ [1, 2]|select('odd')|tojson }}", {}),
    ("{{ [1, 2]|select('odd')|length }}", {}),
    ("{% set g = [1, 2]|select('odd') %}{{ g|list }}{{ g|list }}", {}),
    ("{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ d|dictsort(by='value') }}", {"d": {"b": 2, "A": 3, "c": 1}}),
    ("{{ d.items() }} {{ d.keys() }} {{ d.values() }} {{ d.items()|list }} {{ d.keys()|length }}", {"d": {"b": 2, "a": 1}}),
    ("{{ d.items()|tojson }}", {"d": {"b": 2}}),
    ("{{ 'abc'|reverse }} {{ [1, 2, 3]|reverse|list }} {{ [1, 2]|reverse|join }}", {}),
    ("{{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }}", {}),
    ("{{ [3, 1, 2]|max }} {{ [3, 1, 2]|min }} {{ ['b', 'A']|max }} {{ [1, 2, 3]|sum }} {{ msgs|length }} {{ 'héllo'|length }} {{ {'a': 1}|length }}", {"msgs": MSGS}),
    ("{{ 42|length }}", {}),
    ("{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '.') }}", {}),
    ("{{ '3'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '0x1A'|int(0, 16) }} {{ '2.5'|float * 2 }} {{ 'n'|float }} {{ true|int }}", {}),
    ("{{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 0.125|round(2) }} {{ 1234.5|round(-2) }} {{ 2.5|round(1) }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }} {{ 5|round }} {{ -1.5|round }}", {}),
    ("{{ -3|abs }} {{ -2.5|abs }}", {}),
    ("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('> ') }}", {}),
    ("{{ '<a href=\"x\">&</a>'|e }} {{ '<b>'|escape }} {{ '<i>'|safe }} {{ ('<i>'|safe) + '<b>' }} {{ '<b>' + ('<i>'|safe) }} {{ ('<i>'|safe) ~ '<b>' }}", {}),
    ("{{ 'x'|center(7) }}|{{ 'ab'|center(7) }}|{{ 'one two  three'|wordcount }}", {}),
    ("{{ 'hello world foo bar'|truncate(11) }}|{{ 'hello world foo bar'|truncate(11, true) }}|{{ 'short'|truncate(11) }}|{{ 'hello world foo bar'|truncate(9, false, '..', 0) }}", {}),
    ("{{ '%s is %d years, %.2f%%'|format('Al', 30, 99.5) }} {{ '%-5s|%5s|%05d|%x|%r'|format('a', 'b', 42, 255, 'q') }}", {}),
    ("{{ '%s and %s' % ('a', 'b') }} {{ 'n=%d' % 5 }} {{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }}", {}),
    ("{{ x|default('d') }} {{ none|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 0|d('z', boolean=true) }}", {}),
    ("{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 0)|list }}", {}),
    ("{{ m|attr('role') }} {{ [1, 'a']|string }} {{ 12|string + 'x' }} {{ none|string }}", {"m": MSGS[0]}),
    ("{{ x|list }} {{ 'ab'|list }} {{ {'a': 1}|list }}", {"x": [1]}),
    ("{{ x|nofilter }}", {}),
    ("{% if false %}{{ x|nofilter }}{% endif %}ok", {}),
    ("{% if true %}{{ x|nofilter }}{% endif %}", {}),
    ("{{ x is nosuchtest }}", {}),
    # tojson
    ("{{ x|tojson }}", {"x": {"s": "é\"\\\n\t\u0001\u2028", "n": None, "b": True, "f": 1.5, "i": -3, "l": [1, [2, {}]], "e": [], "o": {}}}),
    ("{{ x|tojson(indent=2) }}", {"x": {"a": [1, {"b": None}], "c": {}, "d": []}}),
    ("{{ x|tojson(indent=4, sort_keys=true) }}", {"x": {"b": 1, "a": {"d": 2, "c": 3}}}),
    ("{{ x|tojson(separators=(',', ':')) }} {{ x|tojson(ensure_ascii=true) }}", {"x": {"k": "é😀", "l": [1, 2]}}),
    ("{{ tools|tojson }}", {"tools": TOOLS}),
    ("{{ 1.0|tojson }} {{ 1e100|tojson }} {{ 0.1|tojson }} {{ 'x'|tojson }} {{ [none]|tojson }} {{ (1, 2)|tojson }}", {}),
    ("{{ undefined_thing|tojson }}", {}),
    ("{{ {1: 'a', true: 'b', none: 'c'}|tojson }}", {}),
    # tests
    ("{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ x is not none }} {{ 'a' is string }} {{ 1 is string }}", {"x": 1}),
    ("{{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is integer }} {{ true is boolean }} {{ 1 is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }}", {}),
    ("{{ {} is mapping }} {{ [] is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }} {{ {} is sequence }} {{ none is iterable }} {{ x is iterable }}", {}),
    ("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 1 is eq 1 }} {{ 1 is equalto(2) }} {{ 2 is gt 1 }} {{ 2 is le 1 }} {{ 1 is ne 2 }}", {}),
    ("{{ 'a' is in 'abc' }} {{ 2 is in [1, 2] }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'Abc' is lower }} {{ none is sameas none }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ 'x' is filter }}", {}),
    ("{{ f is callable }} {{ range is callable }} {{ 'x' is callable }}", {"f": None}),
    # string methods
    ("{{ ' a b '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}", {}),
    ("{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }}", {}),
    ("{{ 'a-b'.replace('-', '+') }} {{ 'banana'.find('na') }} {{ 'banana'.rfind('na') }} {{ 'banana'.count('a') }} {{ ', '.join(['x', 'y']) }} {{ 'l1\\nl2\\r\\nl3'.splitlines() }}", {}),
    ("{{ '{} + {} = {}'.format(1, 2, 3) }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='Bo') }} {{ '{{literal}} {}'.format(1) }} {{ '{!r}'.format('q') }}", {}),
    ("{{ '{}{0}'.format(1) }}", {}),
    ("{{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ '  '.isspace() }} {{ 'abc'.islower() }} {{ 'a=b=c'.partition('=') }} {{ 'a=b=c'.rpartition('=') }}", {}),
    ("{{ 'héllo wörld'.upper() }} {{ 'ÉCOLE'.lower() }} {{ 'straße'|length }}", {}),
    ("{{ x.strip() }}", {"x": ["a"]}),
    ("{{ 'abc'.nosuchmethod() }}", {}),
    # sandbox
    ("{% set l = [1] %}{{ l.append(2) }}", {}),
    ("{% set l = [1] %}{{ l.append is defined }}", {}),
    ("{{ {'a': 1}.pop('a') }}", {}),
    ("{{ {'a': 1}.update({'b': 2}) }}", {}),
    # globals
    ("{{ raise_exception('custom failure message') }}", {}),
    ("{{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%B %d, %Y') }}", {}),
    ("{{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }} {{ dict({'k': 2}, z=3) }} {{ namespace(a=1).a }}", {}),
    ("{% set j = joiner(', ') %}{% for x in [1, 2, 3] %}{{ j() }}{{ x }}{% endfor %}", {}),
    # filter blocks, generation tag
    ("{% filter upper %}shout {{ 'it' }}{% endfilter %} {% filter trim %}   padded   {% endfilter %}|", {}),
    ("{% generation %}assistant text{% endgeneration %}", {}),
    # syntax errors
    ("{% if x %}unclosed", {}),
    ("{{ 'unterminated }}", {}),
    ("{% for %}{% endfor %}", {}),
    ("{{ 1 + }}", {}),
    ("{% endif %}", {}),
    ("{% unknown_tag %}", {}),
    ("{{ a[ }}", {}),
    ("{# never closed", {}),
    ("{{ x | }}", {}),
    ("{% include 'other.jinja' %}", {}),
    # realistic fragments
    ("{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}", {"messages": MSGS, "add_generation_prompt": True}),
    ("{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}{{ system_message | default('none') }}:{% for m in loop_messages %}{{ m.role[0] }}{% endfor %}", {"messages": MSGS}),
    ("{%- for message in messages %}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}{%- endfor %}ok", {"messages": MSGS[1:]}),
    ("{%- for message in messages %}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{- raise_exception('Conversation roles must alternate') }}{%- endif %}{%- endfor %}ok", {"messages": MSGS}),
    ("{%- set ns = namespace(last_user=-1) %}{%- for m in messages %}{%- if m.role == 'user' %}{%- set ns.last_user = loop.index0 %}{%- endif %}{%- endfor %}{{ ns.last_user }}", {"messages": MSGS}),
    ("{%- for tool in tools %}{{ tool.function.name }}({% for p, spec in tool.function.parameters.properties.items() %}{{ p }}: {{ spec.type }}{% if p in tool.function.parameters.required %}*{% endif %}{{ ', ' if not loop.last }}{% endfor %}){% endfor %}", {"tools": TOOLS}),
    ("{{ content if content is string else content|map(attribute='text')|join('\\n') }}", {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
    ("{%- if '</think>' in c %}{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}{%- endif %}", {"c": "<think>\nreasoning here\n</think>\n\nanswer"}),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(root, "tests", "tokenizer", "data", "jinja_cases.json"))
    args = ap.parse_args()
    out = []
    for source, variables in CASES:
        case = {"template": source, "variables": variables}
        try:
            t = _compile_jinja_template(source)
            t.environment.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
            case["rendered"] = t.render(**variables)
        except Exception as e:
            case["error"] = f"{type(e).__name__}: {e}"
        out.append(case)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"generator": "scripts/reference/make_jinja_goldens.py", "jinja2": jinja2.__version__,
                   "now": FIXED_NOW.isoformat(), "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(out)} cases ({sum('error' in c for c in out)} errors) -> {args.out}")


if __name__ == "__main__":
    main()
