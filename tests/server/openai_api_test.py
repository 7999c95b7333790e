#!/usr/bin/env python3
"""frugal serve against the official `openai` Python client, on the real stories260K model.

Starts `frugal serve` on a loopback port (port 0: the server picks one and logs it) and checks completions and
chat, streamed and not, stop strings, n > 1, logprobs, cancellation mid-stream (the request leaves the engine and
its KV blocks are freed at once), every error case (malformed JSON, wrong types, unknown model, a prompt longer
than the context, missing or wrong API key, a full queue), and that 32 concurrent greedy streams produce exactly
what the same prompts produce one at a time. Exit 77 (ctest: skipped) when the openai package is missing.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

try:
    import openai
except ImportError:
    print("openai is not installed (scripts/install_deps.sh installs it); skipping")
    sys.exit(77)

MODEL = "stories260K"
PROMPTS = [
    "Once upon a time", "The little dog", "Lily and Tom went to the park", "One day, a big bird",
    "The sun was hot and", "Mom said", "There was a tree", "Ben had a red ball",
]


class Server:
    def __init__(self, frugal, shared, *extra):
        model = os.path.join(shared, "models", "stories260K")
        self.log_lines = []
        self.proc = subprocess.Popen(
            [frugal, "serve", "-m", os.path.join(model, "stories260K.bin"), "--tokenizer",
             os.path.join(model, "tok512.bin"), "--host", "127.0.0.1", "--port", "0", "-t", "2", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        self.port = None
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log_lines.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("frugal serve did not start:\n" + "".join(self.log_lines))
        threading.Thread(target=self._drain, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _drain(self):
        for line in self.proc.stderr:
            self.log_lines.append(line)

    def client(self, api_key="none", **kw):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=api_key, max_retries=0, timeout=60, **kw)

    def raw(self, path, body=None, headers=None):
        """(status, headers, parsed JSON or text) of a raw HTTP request."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {},
                                     method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, hdrs, text = r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, dict(e.headers), e.read().decode()
        try:
            return status, hdrs, json.loads(text)
        except ValueError:
            return status, hdrs, text

    def metrics(self):
        _, _, text = self.raw("/metrics")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_idle(self, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.metrics()
            if m["frugal_kv_cache_blocks_used"] == 0 and m["frugal_requests_running"] == 0 \
                    and m["frugal_requests_waiting"] == 0:
                return m
            time.sleep(0.02)
        raise AssertionError(f"server not idle after {timeout} s: {self.metrics()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("frugal serve did not stop on SIGTERM")
        if self.proc.returncode != 0:
            raise AssertionError(f"frugal serve exited with {self.proc.returncode}:\n" + "".join(self.log_lines))


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def expect_api_error(fn, error_type, status):
    try:
        fn()
    except error_type as e:
        expect(e.status_code == status, f"status {e.status_code}, wanted {status}")
        body = e.body if isinstance(e.body, dict) else {}
        expect("message" in body and body["message"], f"no OpenAI-style error body: {e.body!r}")
        return e
    raise AssertionError(f"no {error_type.__name__}")


# ---- tests on the main server ----

def test_models(s, c, ctx):
    models = c.models.list().data
    expect(len(models) == 1 and models[0].id == "stories260K", f"models: {models}")


def test_completion_matches_cli(s, c, ctx):
    # The CLI's greedy continuation of the same prompt is the reference.
    out = subprocess.run([ctx.frugal, "run", "-m", ctx.model_bin, "--tokenizer", ctx.tok, "-p", "Once upon a time",
                          "-n", "40", "--temp", "0", "-t", "1"], capture_output=True, text=True, check=True).stdout
    want = out[len("Once upon a time"):].rstrip("\n")
    r = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=40, temperature=0)
    got = r.choices[0].text
    expect(got == want, f"server {got!r} != cli {want!r}")
    expect(r.choices[0].finish_reason == "length", r.choices[0].finish_reason)
    expect(r.usage.completion_tokens == 40 and r.usage.prompt_tokens > 0, f"usage {r.usage}")
    expect(r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, "usage total")


def test_stream_equals_non_stream(s, c, ctx):
    full = c.completions.create(model=MODEL, prompt="The little dog", max_tokens=30, temperature=0)
    chunks = list(c.completions.create(model=MODEL, prompt="The little dog", max_tokens=30, temperature=0, stream=True,
                                       stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    expect(text == full.choices[0].text, f"stream {text!r} != {full.choices[0].text!r}")
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    expect(finishes == ["length"], f"finish reasons {finishes}")
    expect(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 30, f"last chunk {chunks[-1]}")
    expect(all(ch.usage is None for ch in chunks[:-1]), "usage before the last chunk")


def test_stop_strings(s, c, ctx):
    base = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=60, temperature=0).choices[0].text
    # A stop string from the middle of the text, and one that never occurs.
    stop = base[20:26]
    cut = base[:base.index(stop)]
    r = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=60, temperature=0, stop=[stop, "zzzq"])
    expect(r.choices[0].text == cut, f"{r.choices[0].text!r} != {cut!r}")
    expect(r.choices[0].finish_reason == "stop", r.choices[0].finish_reason)
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(model=MODEL, 
        prompt="Once upon a time", max_tokens=60, temperature=0, stop=stop, stream=True) if ch.choices)
    expect(streamed == cut, f"streamed {streamed!r} != {cut!r}")
    s.wait_idle()


def test_n_choices_and_seed(s, c, ctx):
    r = c.completions.create(model=MODEL, prompt="One day, a big bird", max_tokens=20, temperature=1.0, n=3, seed=42)
    expect(sorted(ch.index for ch in r.choices) == [0, 1, 2], f"indices {[ch.index for ch in r.choices]}")
    texts = [ch.text for ch in sorted(r.choices, key=lambda ch: ch.index)]
    expect(len(set(texts)) > 1, f"three samples are identical: {texts}")
    again = c.completions.create(model=MODEL, prompt="One day, a big bird", max_tokens=20, temperature=1.0, n=3, seed=42)
    expect([ch.text for ch in sorted(again.choices, key=lambda ch: ch.index)] == texts, "same seed, other text")
    lengths = sum(1 for ch in r.choices if ch.finish_reason == "length")
    expect(lengths * 20 <= r.usage.completion_tokens <= 60, f"usage {r.usage} with {lengths} choices at the limit")
    streamed = {}
    for ch in c.completions.create(model=MODEL, prompt="One day, a big bird", max_tokens=20, temperature=1.0, n=3, seed=42,
                                   stream=True):
        for choice in ch.choices:
            streamed[choice.index] = streamed.get(choice.index, "") + choice.text
    expect([streamed[i] for i in range(3)] == texts, f"streamed n=3 {streamed} != {texts}")


def test_logprobs(s, c, ctx):
    r = c.completions.create(model=MODEL, prompt="The sun was hot and", max_tokens=12, temperature=0, logprobs=3)
    lp = r.choices[0].logprobs
    expect(len(lp.tokens) == 12 and len(lp.token_logprobs) == 12 and len(lp.top_logprobs) == 12, f"{lp}")
    expect("".join(lp.tokens) == r.choices[0].text, f"tokens {lp.tokens} vs text {r.choices[0].text!r}")
    for tok, tlp, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        expect(len(top) >= 3, f"top {top}")
        expect(tlp <= 0 and abs(max(top.values()) - tlp) < 1e-5, f"greedy token {tok!r} {tlp} not the top {top}")
        expect(sum(2.718281828 ** v for v in top.values()) <= 1.0001, f"probabilities over 1: {top}")
    chat = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=8, temperature=0,
                                     logprobs=True, top_logprobs=2)
    content = chat.choices[0].logprobs.content
    expect(len(content) == chat.usage.completion_tokens, f"{len(content)} entries, {chat.usage}")
    expect(all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in content), f"{content}")


def test_chat(s, c, ctx):
    msgs = [{"role": "system", "content": "You tell stories."}, {"role": "user", "content": "Tell me a story."}]
    r = c.chat.completions.create(model=MODEL, messages=msgs, max_tokens=25, temperature=0)
    expect(r.object == "chat.completion" and r.choices[0].message.role == "assistant", f"{r}")
    text = r.choices[0].message.content
    expect(len(text) > 0 and r.usage.completion_tokens <= 25, f"{r}")
    chunks = list(c.chat.completions.create(model=MODEL, messages=msgs, max_tokens=25, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    expect(chunks[0].choices[0].delta.role == "assistant", f"first chunk {chunks[0]}")
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    expect(streamed == text, f"chat stream {streamed!r} != {text!r}")
    expect(chunks[-1].usage.completion_tokens == r.usage.completion_tokens, "chat usage")


def test_cancel_mid_stream(s, c, ctx):
    s.wait_idle()
    before = s.metrics()['frugal_requests_finished_total{reason="abort"}']
    stream = c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=480, temperature=0, stream=True,
                                  extra_body={"ignore_eos": True})
    got = 0
    for ch in stream:
        got += 1
        if got == 3:
            break
    stream.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        m = s.metrics()
        if m['frugal_requests_finished_total{reason="abort"}'] == before + 1:
            break
        time.sleep(0.01)
    m = s.wait_idle(2.0)
    expect(m['frugal_requests_finished_total{reason="abort"}'] == before + 1, f"not aborted: {m}")


def test_errors(s, c, ctx):
    status, _, body = s.raw("/v1/completions", '{"prompt": "hi", ')
    expect(status == 400 and body["error"]["type"] == "invalid_request_error", f"malformed JSON: {status} {body}")
    status, _, body = s.raw("/v1/chat/completions", "[1, 2]")
    expect(status == 400 and "object" in body["error"]["message"], f"not an object: {status} {body}")
    e = expect_api_error(lambda: c.completions.create(model=MODEL, prompt="hi", max_tokens="many"), openai.BadRequestError, 400)
    expect(e.body.get("param") == "max_tokens", f"param {e.body}")
    expect_api_error(lambda: c.completions.create(model=MODEL, prompt="hi", temperature=7), openai.BadRequestError, 400)
    expect_api_error(lambda: c.completions.create(model=MODEL, prompt=[[1, 2], "x", {"a": 1}]), openai.BadRequestError, 400)
    expect_api_error(lambda: c.completions.create(model=MODEL, prompt=[99999]), openai.BadRequestError, 400)
    expect_api_error(lambda: c.chat.completions.create(model=MODEL, messages=[{"content": "no role"}]), openai.BadRequestError, 400)
    expect_api_error(lambda: c.chat.completions.create(model=MODEL, messages="hi"), openai.BadRequestError, 400)
    expect_api_error(lambda: c.completions.create(model="gpt-17", prompt="hi", max_tokens=2), openai.NotFoundError, 404)
    long_prompt = "Once upon a time " * 300  # well over the 512-token context
    e = expect_api_error(lambda: c.completions.create(model=MODEL, prompt=long_prompt, max_tokens=5), openai.BadRequestError, 400)
    expect(e.body.get("code") == "context_length_exceeded", f"{e.body}")
    e = expect_api_error(lambda: c.completions.create(model=MODEL, prompt="Once", max_tokens=100000), openai.BadRequestError, 400)
    status, _, body = s.raw("/v1/nothing-here")
    expect(status == 404 and "error" in body, f"unknown route: {status} {body}")
    # None of that disturbed the server.
    s.wait_idle()
    expect(c.completions.create(model=MODEL, prompt="Mom said", max_tokens=5, temperature=0).choices[0].text != "", "alive")


def test_concurrent_streams_match_sequential(s, c, ctx):
    prompts = [f"{PROMPTS[i % len(PROMPTS)]}{'' if i < len(PROMPTS) else ' ' + str(i)}" for i in range(32)]
    sequential = [c.completions.create(model=MODEL, prompt=p, max_tokens=48, temperature=0).choices[0].text for p in prompts]

    def stream(p):
        return "".join(ch.choices[0].text for ch in c.completions.create(model=MODEL, 
            prompt=p, max_tokens=48, temperature=0, stream=True) if ch.choices)

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        concurrent_texts = list(pool.map(stream, prompts))
    bad = [(p, a, b) for p, a, b in zip(prompts, sequential, concurrent_texts) if a != b]
    expect(not bad, f"{len(bad)} of 32 differ, first: {bad[:1]}")
    m = s.wait_idle()
    expect(m["frugal_prefix_cache_hits_total"] > 0, "the repeated prompts never hit the prefix cache")


# ---- tests that need their own server ----

def test_api_key(ctx):
    s = Server(ctx.frugal, ctx.shared, "--api-key", "sekrit-key")
    try:
        expect_api_error(lambda: s.client(api_key="wrong").completions.create(model=MODEL, prompt="hi", max_tokens=2),
                         openai.AuthenticationError, 401)
        expect_api_error(lambda: s.client(api_key="sekrit-ke").models.list(), openai.AuthenticationError, 401)
        status, _, body = s.raw("/v1/completions", '{"prompt": "hi"}')
        expect(status == 401 and body["error"]["code"] == "invalid_api_key", f"no key: {status} {body}")
        r = s.client(api_key="sekrit-key").completions.create(model=MODEL, prompt="hi", max_tokens=2)
        expect(r.usage.completion_tokens == 2, f"{r}")
        status, _, _ = s.raw("/health")
        expect(status == 200, "health needs no key")
    finally:
        s.stop()


def test_queue_full_gives_429(ctx):
    s = Server(ctx.frugal, ctx.shared, "--max-num-seqs", "1", "--max-queue", "1")
    try:
        c = s.client()

        def one(_):
            try:
                c.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=300, temperature=0,
                                     extra_body={"ignore_eos": True})
                return "ok"
            except openai.RateLimitError as e:
                expect(e.response.headers.get("retry-after") is not None, "429 without Retry-After")
                return "429"

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(8)))
        expect("429" in results and "ok" in results, f"results {results}")
        m = s.wait_idle(10)
        expect(m["frugal_requests_rejected_total"] == results.count("429"), f"{m}")
    finally:
        s.stop()


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frugal", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--chat-template", required=True)
    args = ap.parse_args()
    ctx = Ctx()
    ctx.frugal, ctx.shared = args.frugal, args.shared
    ctx.model_bin = os.path.join(args.shared, "models", "stories260K", "stories260K.bin")
    ctx.tok = os.path.join(args.shared, "models", "stories260K", "tok512.bin")
    failures = []
    s = Server(args.frugal, args.shared, "--chat-template", args.chat_template)
    try:
        c = s.client()
        for test in [test_models, test_completion_matches_cli, test_stream_equals_non_stream, test_stop_strings,
                     test_n_choices_and_seed, test_logprobs, test_chat, test_cancel_mid_stream, test_errors,
                     test_concurrent_streams_match_sequential]:
            try:
                test(s, c, ctx)
                print(f"ok   {test.__name__}")
            except Exception:
                failures.append(test.__name__)
                print(f"FAIL {test.__name__}\n{traceback.format_exc()}")
        m = s.wait_idle()
        expect(m["frugal_kv_cache_blocks_used"] == 0, "blocks leaked")
    finally:
        s.stop()
    for test in [test_api_key, test_queue_full_gives_429]:
        try:
            test(ctx)
            print(f"ok   {test.__name__}")
        except Exception:
            failures.append(test.__name__)
            print(f"FAIL {test.__name__}\n{traceback.format_exc()}")
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
