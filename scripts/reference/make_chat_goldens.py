#!/usr/bin/env python3
"""Renders every chat template in ../shared/chat-templates for a fixed set of conversations with Python jinja2,
configured exactly as transformers configures chat templates (its own compile function), and writes
tests/tokenizer/data/chat_renders.json.xz: for each (template, conversation) the rendered text, or the error the
template raised. frugal's Jinja engine must reproduce every rendering byte for byte and fail where jinja2 fails.

strftime_now is pinned to 2026-11-29 12:00:00 so that the output does not depend on the day it runs.
Usage: python3 scripts/reference/make_chat_goldens.py [--shared ../shared] [--out tests/tokenizer/data/chat_renders.json.xz]
"""
import argparse
import datetime
import json
import lzma
import os
import sys

import jinja2
import transformers
from transformers.utils.chat_template_utils import _compile_jinja_template

FIXED_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city, e.g. \"Paris\""},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "max_results": {"type": "integer", "default": 5}},
                "required": ["query"],
            },
        },
    },
]

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
}

CONVERSATIONS = [
    ("single user, generation prompt", {
        "messages": [{"role": "user", "content": "Hello! What is the capital of France?"}],
        "add_generation_prompt": True}),
    ("system + two turns, generation prompt", {
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And times 3?"}],
        "add_generation_prompt": True}),
    ("system + two turns, no generation prompt", {
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And times 3?"}],
        "add_generation_prompt": False}),
    ("ends with assistant, no generation prompt", {
        "messages": [
            {"role": "user", "content": "Write a haiku about rain."},
            {"role": "assistant", "content": "Soft rain on the roof\nwhispers to the sleeping town\npuddles hold the sky"}],
        "add_generation_prompt": False}),
    ("tools offered, user asks", {
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"}],
        "tools": TOOLS,
        "add_generation_prompt": True}),
    ("tool call and tool result", {
        "messages": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True}),
    ("tool round trip, final answer", {
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18 C, cloudy"},
            {"role": "assistant", "content": "It is 18 C and cloudy in Paris."},
            {"role": "user", "content": "Thanks!"}],
        "tools": TOOLS,
        "add_generation_prompt": True}),
    ("enable_thinking false", {
        "messages": [{"role": "user", "content": "Briefly: why is the sky blue?"}],
        "add_generation_prompt": True,
        "enable_thinking": False}),
    ("enable_thinking true, reasoning in history", {
        "messages": [
            {"role": "user", "content": "Is 17 prime?"},
            {"role": "assistant", "content": "Yes, 17 is prime.", "reasoning_content": "17 has no divisors between 2 and 4."},
            {"role": "user", "content": "And 21?"}],
        "add_generation_prompt": True,
        "enable_thinking": True}),
    ("content as a list of text parts", {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "Name three colours."}, {"type": "text", "text": "Only three."}]}],
        "add_generation_prompt": True}),
    ("unicode, quotes and markup in content", {
        "messages": [
            {"role": "user", "content": "Übersetze: \"naïve café\" — 東京 🚀 <b>bold</b> {{ not a tag }} {% raw %}\n\ttab 'q'"},
            {"role": "assistant", "content": "«naïve café» ✓\n\n```json\n{\"a\": [1, 2.5, null]}\n```"},
            {"role": "user", "content": "  leading and trailing spaces  "}],
        "add_generation_prompt": True}),
]

BOS = "<|bos|>"
EOS = "<|eos|>"


def render(source, context):
    template = _compile_jinja_template(source)
    template.environment.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return template.render(**context)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(root, "..", "shared"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "tokenizer", "data", "chat_renders.json.xz"))
    args = ap.parse_args()
    folder = os.path.join(args.shared, "chat-templates")
    cases = []
    counts = {"rendered": 0, "error": 0, "compile_error": 0}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            source = f.read()
        for description, conv in CONVERSATIONS:
            context = {"tools": None, "documents": None, "bos_token": BOS, "eos_token": EOS}
            context.update(json.loads(json.dumps(conv)))
            case = {"template": name, "description": description, "context": context}
            try:
                case["rendered"] = render(source, context)
                counts["rendered"] += 1
            except jinja2.TemplateSyntaxError as e:
                case["error"] = f"{type(e).__name__}: {e}"
                counts["compile_error"] += 1
            except Exception as e:  # the template's own raise_exception, an undefined value, a type error
                case["error"] = f"{type(e).__name__}: {e}"
                counts["error"] += 1
            cases.append(case)
    out = {
        "generator": "scripts/reference/make_chat_goldens.py",
        "jinja2": jinja2.__version__,
        "transformers": transformers.__version__,
        "now": FIXED_NOW.isoformat(),
        "cases": cases,
    }
    data = json.dumps(out, ensure_ascii=False, indent=1).encode("utf-8")
    with lzma.open(args.out, "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(data)
    print(f"{len(cases)} cases: {counts}; {len(data)} bytes -> {os.path.getsize(args.out)} bytes xz in {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
