"""Write the teaching notebooks from their source below and run them, so they are committed with
real outputs. Usage: ``python notebooks/build.py [name ...]`` (default: all).

Cells are tagged for nbval: ``nbval-check-output`` where the output is deterministic (test server
answers, printed facts), ``nbval-ignore-output`` where timings or sampling make it vary.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
CHECK, IGNORE = "nbval-check-output", "nbval-ignore-output"


def md(text: str) -> tuple[str, str, list[str]]:
    return ("markdown", text.strip("\n"), [])


def code(text: str, tag: str = IGNORE, *more: str) -> tuple[str, str, list[str]]:
    return ("code", text.strip("\n"), [tag, *more])


NOTEBOOKS: dict[str, list[tuple[str, str, list[str]]]] = {}

NOTEBOOKS["01_quickstart"] = [
    md("""
# Quickstart: GLM in a notebook

`%%glm` turns a cell into a prompt. With **no API key** it answers with the embedded **offline
model** (llama.cpp running a small model on your machine), so this notebook runs anywhere, even
with no network. Add a GLM key (below) and the same cells talk to GLM.

> The offline chat model is *SmolLM2-135M-Instruct*, a tiny instruction-tuned model: it answers
> simple questions in a sentence (26 of 36 everyday questions right in `make bench`) and gets
> harder ones wrong. With no system message of yours it is asked to answer in one short sentence.
> The sampling lesson (notebook 03) shows next-token probabilities of *gemma-3-270m*, a base model.
"""),
    code("%load_ext glm_notebook", CHECK),
    md("## Your first answer\n\nThe cell is the prompt. The answer streams in; the status line says which model answered, how fast, and why it stopped."),
    code("""
%%glm --max-tokens 40 --temperature 0
What is the capital of France?
"""),
    md("The result is kept in `_glm` (a `ChatResult`): text, finish reason, timings, and exactly what was sent."),
    code("""
print(repr(_glm.text[:60]))
print("finished:", _glm.finish_reason in ("stop", "length"), "| sent:", {k: _glm.request[k] for k in ("temperature", "max_tokens")})
"""),
    code('print(_glm.complete, _glm.request["temperature"], _glm.request["max_tokens"])', CHECK),
    md("""
## Flags

Flags set the model and sampling for one cell. Unset flags are not sent at all, and what you set is
sent exactly: `--temperature 0` sends `0.0`.

| flag | what it does |
|---|---|
| `--temperature T` `--top-p P` `--max-tokens N` `--seed S` | sampling |
| `--system "..."` | a system prompt |
| `--format text\\|markdown\\|code\\|json` | how the answer is shown / parsed |
| `--out VAR` | keep the result in `VAR` too |
| `--chat NAME` | a conversation with memory; re-running a cell replaces its own turn |
| `--vars` | fill `{name}` from your variables |

`%%glm?` lists them all.
"""),
    code("""
%%glm --temperature 0.9 --seed 7 --max-tokens 30 --out story
Once upon a time, in a small village by the sea,
"""),
    code("print(type(story).__name__, story is _glm, story.request['seed'])", CHECK),
    code("""
country = "Italy"
"""),
    code("""
%%glm --vars --max-tokens 25 --temperature 0
What is the capital of {country}?
"""),
    code("print(_glm.request['messages'][-1]['content'])", CHECK),
    md("A one-line prompt works too (end it without `?`: IPython reads a trailing `?` as a request for help):"),
    code("%glm --max-tokens 20 --temperature 0 Tell me the capital of Japan."),
    md("A mistake is caught before anything is sent, with what is allowed:"),
    code("""
try:
    get_ipython().run_cell_magic("glm", "--temperature 5", "Hi")
except Exception as exc:
    print(type(exc).__name__ + ":", exc)
""", CHECK),
    md("""
## Try settings: a playground and a side-by-side compare

`--tune` opens a playground for the prompt: sliders for temperature, top_p and max_tokens, a Run
button, the request as sent and a history of runs. `--compare` runs several settings side by side.
More of both in `02_parameter_lab.ipynb`.
"""),
    code("""
%%glm --tune --max-tokens 40 --out lab
Suggest a name for a friendly robot.
"""),
    code("""
lab.wait(120)            # the first run starts by itself; wait for it here so the next cells see it
print(type(lab).__name__, lab.last_result is not None)
""", CHECK),
    code("""
%%glm --compare "temperature=0,0.8" --max-tokens 40 --seed 1
Suggest a name for a friendly robot.
"""),
    code("print(len(_glm), [r.request['temperature'] for r in _glm], all(r.complete for r in _glm))", CHECK),
    md("""
## Using GLM: add a key, switch providers

Set one of these (in the environment, or in a `.env` file next to the notebook), then reset the
shared client:

| provider | key variable | base URL |
|---|---|---|
| Zhipu (China) | `ZHIPUAI_API_KEY` | https://open.bigmodel.cn/api/paas/v4 |
| Z.ai (international) | `ZAI_API_KEY` | https://api.z.ai/api/paas/v4 |
| Z.ai coding plan | `ZAI_API_KEY` + `GLM_PROVIDER=zai-coding` | https://api.z.ai/api/coding/paas/v4 |
| your own server (vLLM, SGLang, Ollama...) | `GLM_BASE_URL` (+ `GLM_API_KEY`) | any |

```python
%env ZAI_API_KEY=your-key
import glm_notebook; glm_notebook.reset_client()
%config GLMMagics.model = "glm-4.7-flash"
```

`%glm config` shows what is in use (the key is always masked):
"""),
    code("%glm config"),
    md("""
## Your own GGUF weights offline

Point the offline model at any GGUF file, e.g. GLM weights you have downloaded, before the first
`%%glm` of the session: `%env GLM_LOCAL_MODEL=/path/to/glm-4-9b-chat.Q4_K_M.gguf`.

Next: `02_parameter_lab.ipynb` (sliders and side-by-side compare).
"""),
]

NOTEBOOKS["02_parameter_lab"] = [
    md("""
# Parameter lab: sliders and side-by-side compare

Two tools for feeling what sampling parameters do. Both run on the offline model with no key, and
on GLM once a key is set (see `01_quickstart.ipynb`).

* `%%glm --tune` opens a **playground**: sliders for temperature, top_p and max_tokens (their
  ranges follow the provider: GLM cloud temperature 0-1, local servers 0-2), a model picker, a
  thinking switch, a system prompt and a Run button. Moving a slider cancels the run in flight and
  re-runs. "Request sent" shows exactly what went over the wire; "History" keeps every run;
  "Copy as code" gives the `%%glm` line that reproduces the current settings.
* `%%glm --compare "temperature=0,1.5"` runs several settings **side by side**, concurrently.
"""),
    code("%load_ext glm_notebook", CHECK),
    md("## The playground\n\nRun this cell, then drag the temperature slider: low values repeat the same continuation, high values wander."),
    code("""
%%glm --tune --max-tokens 30 --out lab
Once upon a time, in a small village by the sea,
"""),
    code("""
lab.wait(120)            # the first run starts by itself; wait for it here so the next cells see it
print(type(lab).__name__, lab.last_result is not None)
""", CHECK),
    md("Everything the sliders send is also scriptable, and exactly what you set is sent:"),
    code("""
lab.sliders["temperature"].value = 0.0
lab.run(); lab.wait(120)
print(lab.last_result.request["temperature"], "|", lab.code().splitlines()[0])
""", CHECK),
    md("""
## Compare settings side by side

Each panel streams on its own and shows its own status line. The spec takes one or more
`key=v1,v2` items (temperature, top_p, max_tokens); `--samples N` repeats each setting, which
shows how much a single setting varies.
"""),
    code("""
%%glm --compare "temperature=0,1.5" --max-tokens 30 --seed 1
Once upon a time, in a small village by the sea,
"""),
    code("print(len(_glm), [r.request['temperature'] for r in _glm], all(r.complete for r in _glm))", CHECK),
    code("""
%%glm --compare "temperature=1.0" --samples 3 --max-tokens 20
The best thing about weekends is
"""),
    md("The same from Python, with a grid of two knobs (4 panels):"),
    code("""
import glm_notebook as glm

results = glm.compare("The secret to good bread is", temperature=[0.2, 1.0], top_p=[0.5, 1.0], max_tokens=20)
"""),
    code("print([(r.request['temperature'], r.request['top_p']) for r in results])", CHECK),
    md("""
## What to look for

* **temperature 0** gives the same continuation every time (greedy); raise it and runs diverge.
* **top_p** small keeps only the most likely words: answers get safer and more repetitive even at
  a high temperature.
* **max_tokens** cuts the answer: the status line then says `length` instead of `stop`.
* On the offline server the panels of a compare take turns (llama.cpp answers one request at a
  time); against GLM they run truly in parallel, so a compare takes about as long as its slowest
  panel.

Next: `03_how_sampling_works.ipynb`, the lesson behind these knobs.
"""),
]

NOTEBOOKS["03_how_sampling_works"] = [
    md("""
# How sampling works: temperature and top_p

A language model does not pick "the" next word: it gives a **probability to every token** in its
vocabulary, and a *sampler* draws one. Two knobs reshape that draw:

* **temperature** sharpens (< 1) or flattens (> 1) the distribution; 0 means "always the top token";
* **top_p** keeps only the most likely tokens whose probabilities add up to `top_p`, cutting the tail.

We take a **real** distribution from the offline base model (gemma-3-270m: a base model's own
probabilities, not an assistant's), reshape it by hand, then sample for real
and compare. No key needed.
"""),
    code("""
%load_ext glm_notebook
from glm_notebook.local import next_token_distribution

prompt = "The capital of France is"
dist = next_token_distribution(prompt, top_k=1000)   # the model's own probabilities (temperature 1)
print(f"the {len(dist)} most likely tokens hold {sum(p for _, p in dist):.0%} of the probability")
for token, p in dist[:8]:
    print(f"{token!r:>14}  {p:6.3f}  " + "#" * int(p * 100))
"""),
    code("print(len(dist), all(a[1] >= b[1] for a, b in zip(dist, dist[1:])), sum(p for _, p in dist) <= 1.0)", CHECK),
    md("We treat these tokens as the whole distribution: the rest is a thin tail of very unlikely tokens."),
    md("""
## Reshaping by hand

With `p_i` the model's probabilities:

* temperature `T`: new `p_i ∝ p_i^(1/T)` (the same as dividing the logits by `T`);
* top_p `P`: sort, keep the smallest head whose total (of the model's probabilities) reaches `P`,
  renormalise.

The offline server (llama.cpp) applies **top_p first, then temperature**. GLM's cloud documents
the two knobs but not their order; for teaching, the order matters only when both are far from 1.
"""),
    code("""
def apply_top_p(dist, top_p):
    kept, total = [], 0.0
    for token, p in dist:                     # dist is sorted, most likely first
        kept.append((token, p))
        total += p
        if total >= top_p:
            break
    s = sum(p for _, p in kept)
    return [(t, p / s) for t, p in kept]

def apply_temperature(dist, temperature):
    if temperature == 0:
        return [(dist[0][0], 1.0)]
    weights = [(t, p ** (1.0 / temperature)) for t, p in dist]
    s = sum(w for _, w in weights)
    return [(t, w / s) for t, w in weights]

def reshape(dist, temperature, top_p):
    \"\"\"What llama.cpp draws from: top_p on the model's distribution, then temperature.\"\"\"
    return apply_temperature(apply_top_p(dist, top_p), temperature)
"""),
    code("""
cold, warm, hot = (reshape(dist, t, 1.0)[0][1] for t in (0.3, 1.0, 2.0))
print("top token share grows as temperature drops:", cold > warm > hot)
print("top_p=0.5 keeps fewer tokens than top_p=0.95:", len(reshape(dist, 1.0, 0.5)) < len(reshape(dist, 1.0, 0.95)))
print("shares still sum to 1:", round(sum(p for _, p in reshape(dist, 0.7, 0.9)), 6) == 1.0)
""", CHECK),
    md("## Try it: drag the sliders\n\nBars show the share of each candidate token after reshaping. Tokens are shown as text, escaped: model output never runs as HTML."),
    code("""
import html
import re
import ipywidgets as widgets

def shares(temperature, top_p, n=12):
    shaped = dict(reshape(dist, temperature, top_p))
    return [(token, p, shaped.get(token, 0.0)) for token, p in dist[:n]]

def bars(temperature=1.0, top_p=1.0):
    rows = [
        f"<tr><td style='font-family:monospace;padding-right:8px'>{html.escape(repr(token))}</td>"
        f"<td style='width:320px'><div style='background:var(--jp-brand-color1,#1976d2);height:12px;width:{q * 100:.1f}%'></div></td>"
        f"<td style='padding-left:8px'>{q:.3f}</td><td style='color:gray;padding-left:8px'>model {p:.3f}</td></tr>"
        for token, p, q in shares(temperature, top_p)
    ]
    return widgets.HTML("<table>" + "".join(rows) + "</table>")

def table(temperature, top_p):
    \"\"\"The chart as Markdown: what a saved notebook shows where widgets do not run (GitHub, nbconvert).\"\"\"
    escape = lambda text: re.sub(r"([\\\\`*_\\[\\]<>|#])", r"\\\\\\1", html.escape(repr(text), quote=False))
    lines = [f"temperature={temperature}, top_p={top_p} (run the notebook to drag the sliders)", "",
             "| token | share after reshaping | model's probability |", "|---|---:|---:|"]
    lines += [f"| {escape(token)} | {q:.3f} | {p:.3f} |" for token, p, q in shares(temperature, top_p)]
    return "\\n".join(lines)

chart = widgets.interactive(
    lambda temperature, top_p: display(bars(temperature, top_p)),
    temperature=widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, continuous_update=False),
    top_p=widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, continuous_update=False),
)
output = chart._repr_mimebundle_()          # the live widget ...
output["text/markdown"] = table(1.0, 1.0)   # ... and a readable copy of its starting state
display(output, raw=True)
"""),
    md("""
## Now sample for real

We ask the offline model for **one token**, many times, with the same settings, and count what
comes out. Other llama.cpp samplers are switched off (`top_k=0`, `min_p=0`, `repeat_penalty=1`)
so only temperature and top_p act, as in our prediction. We call the server's raw completion
endpoint so the prompt is continued exactly as written (no chat template).
"""),
    code("""
import collections
import httpx
from glm_notebook.local import ensure_server

server = ensure_server("base")   # the same base model next_token_distribution asked

def sample(temperature, top_p, n=100):
    counts = collections.Counter()
    with httpx.Client(timeout=60) as http:
        for seed in range(n):
            body = {"model": server.model, "prompt": prompt, "max_tokens": 1, "temperature": temperature,
                    "top_p": top_p, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "seed": seed}
            counts[http.post(server.base_url + "/completions", json=body).json()["choices"][0]["text"]] += 1
    return counts

def compare(temperature, top_p, n=100):
    counts = sample(temperature, top_p, n)
    predicted = dict(reshape(dist, temperature, top_p))
    print(f"temperature={temperature}, top_p={top_p}, {n} samples")
    print(f"{'token':>14} {'predicted':>10} {'observed':>9}")
    for token, _ in dist[:8]:
        print(f"{token!r:>14} {predicted.get(token, 0.0):10.2f} {counts.get(token, 0) / n:9.2f}")
    return counts
"""),
    code("_ = compare(1.0, 1.0)"),
    code("_ = compare(0.5, 1.0)"),
    code("_ = compare(1.0, 0.5)"),
    md("At temperature 0 the sampler always takes the top token, whatever the seed:"),
    code("""
greedy = sample(0.0, 1.0, n=5)
print(len(greedy) == 1, next(iter(greedy)) == dist[0][0])
""", CHECK),
    md("""
## What to look for

* Lower temperature → the top token wins more often; higher → rarer tokens appear.
* A small top_p removes the tail entirely: tokens outside the nucleus never show up.
* With only 100 samples the observed shares wobble around the prediction; more samples, less wobble.

Try the same with `%%glm --temperature ... --top-p ...` on a real GLM model, or compare settings
side by side in `02_parameter_lab.ipynb`.
"""),
]

NOTEBOOKS["04_errors_and_limits"] = [
    md("""
# Errors and limits: what they look like

Real services fail in a few typical ways: too many requests, an empty balance, the content filter,
an answer cut by `max_tokens`, a connection that breaks mid-answer. This notebook shows each one
with `glm_notebook.testing`, a GLM-protocol server on your own machine that fails on purpose —
no key and no network needed. Each failure is **one clear line**, and any text that already
arrived **stays visible**.
"""),
    code("%load_ext glm_notebook", CHECK),
    code("""
import glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply, Fault

server = GLMTestServer().start()
glm.set_client(glm.GLMClient(provider="zai", base_url=server.base_url, api_key="demo-key-0000"))
print("test server ready")
""", CHECK),
    md("""
## 1. Rate limit (HTTP 429, code 1302) — retried for you

The first request is refused with `Retry-After: 1`; the client waits that long (with backoff and
jitter) and tries again. Retries happen only before any answer text has been shown.
"""),
    code("""
server.enqueue(Fault.rate_limit(retry_after=1), Reply(text="This answer came after one retry."))
"""),
    code("""
%%glm
Explain what a rate limit is.
"""),
    code('print(_glm.text, "| retries:", _glm.metrics.retries)', CHECK),
    md("""
## 2. Empty balance (code 1113) — never retried

GLM sends 1113 with HTTP **429**, like a rate limit, but waiting cannot fix it. `glm_notebook`
fails at once with a message about the balance (the official SDKs retry it).
"""),
    code("server.reset()  # forget earlier requests\nserver.enqueue(Fault.balance())"),
    code("""
%%glm
Hello?
"""),
    code("print(type(_glm.error).__name__, '| requests sent:', len(server.requests))", CHECK),
    md("""
## 3. The content filter stops an answer (finish_reason "sensitive")

The text that arrived before the stop stays on screen, with the reason.
"""),
    code('server.enqueue(Reply(text="Here is the first part of an answer that", finish_reason="sensitive"))'),
    code("""
%%glm
Tell me something.
"""),
    code("print(type(_glm.error).__name__, '| kept:', repr(_glm.text))", CHECK),
    md("""
## 4. `max_tokens` cuts the answer (finish_reason "length")

Not an error: the status line says `length`. On GLM-5 thinking tokens count against `max_tokens`
too, so a small limit can end before the answer starts.
"""),
    code('server.enqueue(Reply(text="One two three four five", finish_reason="length"))'),
    code("""
%%glm --max-tokens 5
Count to one hundred.
"""),
    code("print(_glm.finish_reason, '| sent max_tokens =', server.requests[-1].json['max_tokens'])", CHECK),
    md("""
## 5. The connection breaks mid-answer

The stream ends without `[DONE]`: `StreamInterrupted`, and the partial text is kept in `_glm`.
"""),
    code('server.enqueue(Reply(text="alpha beta gamma delta epsilon", cut_after=3))'),
    code("""
%%glm
List five Greek letters.
"""),
    code("print(type(_glm.error).__name__, '| kept:', repr(_glm.text))", CHECK),
    md("""
## 6. A mistake in a flag is caught before anything is sent

GLM's cloud accepts temperature 0 to 1 (local servers up to 2). The message says what is allowed.
"""),
    code("""
try:
    get_ipython().run_cell_magic("glm", "--temperature 1.5", "Hi")
except Exception as exc:
    print(type(exc).__name__ + ":", exc)
""", CHECK),
    code("server.stop(); glm.reset_client()", CHECK),
]


NOTEBOOKS["06_notebook_context"] = [
    md("""
# The notebook as context: DataFrames, errors, plots, and what each answer costs

`%%glm` can show the model what you see: a variable (`--context`), the last error (`%glm fix`), a
plot (`--image`). Each object is sent as a compact description — never megabytes — and you can
print exactly what is sent with `glm.describe`. This notebook answers from `glm_notebook.testing`,
a GLM-protocol server on your machine with scripted answers, so it runs without a key; with a key
the same cells ask GLM.
"""),
    code("%load_ext glm_notebook", CHECK),
    code("""
import glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply

server = GLMTestServer().start()
glm.set_client(glm.GLMClient(provider="zai", base_url=server.base_url, api_key="demo-key-0000"))

def usage(prompt, completion):  # the token counts the scripted answers report
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

print("test server ready")
""", CHECK),
    md("""
## 1. Ask about a DataFrame with a million rows

`--context df` sends one labelled block per variable: shape, dtypes, missing counts, a few rows
and a seeded random sample — not the million rows.
"""),
    code("""
import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
n = 1_000_000
df = pd.DataFrame({
    "id": np.arange(n),
    "price": np.where(rng.random(n) < 0.3, np.nan, rng.integers(1, 100, n).astype(float)),
    "city": np.where(rng.random(n) < 0.1, None, rng.choice(["Paris", "Rome", "Oslo"], n)),
})
print(df.shape)
""", CHECK),
    md("This is exactly what the model will see of `df`:"),
    code("print(glm.describe(df))"),
    code("""
server.enqueue(Reply(text="`price` has the most missing values: about 30% of the rows.", usage=usage(420, 14)))
"""),
    code("""
%%glm --model glm-4.7 --context df
Which column has the most missing values?
"""),
    code('print(len(server.requests[-1].body), "bytes sent for a", f"{len(df):,}-row DataFrame")'),
    code('print("request under 5 KB:", len(server.requests[-1].body) < 5_000)', CHECK),
    md("""
## 2. Fix the last error

`%glm fix` sends the failing cell, its traceback and a summary of the variables it used, and asks
for the cause and a fixed cell (`%glm fix --code` puts the fixed cell below this one).
"""),
    code('df["prices"].mean()', IGNORE, "raises-exception"),
    code("""
server.enqueue(Reply(
    text='The column is called `price`, not `prices`:\\n\\n```python\\ndf["price"].mean()\\n```',
    usage=usage(900, 25),
))
"""),
    code("%glm fix --model glm-4.7"),
    md("What was sent (the start of each part):"),
    code("""
sent = server.requests[-1].json["messages"][0]["content"]
print(sent.splitlines()[0])  # the variables the cell used
print("the cell:", 'df["prices"].mean()' in sent.split("<cell")[1].split("</cell>")[0])
print("the traceback ends:", sent.split("</traceback>")[0].rstrip().splitlines()[-1])
""", CHECK),
    md("""
## 3. Ask about a plot

`--image fig` sends the figure as a PNG to a vision model. A text-only model (glm-4.7) with an
image is refused before anything is sent, naming `glm-4.6v-flash`.
"""),
    code("""
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4, 2.5))
df["price"].isna().groupby(df["city"].fillna("missing")).mean().plot.bar(ax=ax, title="share of missing prices")
"""),
    code("""
server.enqueue(Reply(text="A bar chart: about 30% of the prices are missing in every city.", usage=usage(1200, 16)))
"""),
    code("""
%%glm --model glm-4.6v-flash --image fig
What does this plot show?
"""),
    code("""
parts = server.requests[-1].json["messages"][0]["content"]
print([p["type"] for p in parts], parts[0]["image_url"]["url"][:22])
""", CHECK),
    md("""
## 4. What it cost

The status line under each answer shows its cost when the server reported usage and the model has
a price (`result.cost`; `glm.set_prices` changes the table). `%glm usage` adds up the session.
"""),
    code("%glm usage", CHECK),
    code("server.stop()", CHECK),
]


NOTEBOOKS["05_tools_and_schemas"] = [
    md("""
# Tools and typed answers: GLM calls your functions and returns data you can use

Hand GLM a few of your Python functions with `--tools`: it decides which to call, with which
arguments; each call runs here, in your kernel, and the answer comes back when the model is done.
Every call shows in the answer as a block you can open. `--schema` (or `schema=`) asks for an
answer that fits a class of yours and gives you the validated object.

The first sections answer from `glm_notebook.testing`, a GLM-protocol server on your machine with
scripted answers (so you can see exactly what is sent), the last one from the offline model.
"""),
    code("%load_ext glm_notebook", CHECK),
    code("""
import glm_notebook as glm
from glm_notebook.testing import GLMTestServer, Reply

server = GLMTestServer().start()
glm.set_client(glm.GLMClient(provider="zai", base_url=server.base_url, api_key="demo-key-0000"))
print("test server ready")
""", CHECK),
    md("""
## 1. A question about your data, answered through two tool calls

Plain functions are tools: the name, the description and the JSON schema GLM sees come from the
signature, the type hints and the docstring.
"""),
    code('''
import pandas as pd

sales = pd.DataFrame({
    "region": ["north", "south", "north", "east", "south", "north"],
    "product": ["tea", "tea", "coffee", "tea", "coffee", "cocoa"],
    "revenue": [120.0, 80.0, 200.0, 50.0, 160.0, 30.0],
})

def revenue_by(column: str) -> dict:
    """Total revenue grouped by one column of the sales table.

    Args:
        column: "region" or "product".
    """
    return sales.groupby(column)["revenue"].sum().to_dict()

def share(part: float, total: float) -> str:
    """Part of a total as a percentage."""
    return f"{100 * part / total:.1f}%"

print(glm.tool(revenue_by).definition()["function"]["parameters"])
''', CHECK),
    md('The scripted model asks for `revenue_by("region")`, then for `share(...)`, then answers:'),
    code("""
server.enqueue(
    Reply(tool_calls=[{"id": "c1", "name": "revenue_by", "arguments": {"column": "region"}}]),
    Reply(tool_calls=[{"id": "c2", "name": "share", "arguments": {"part": 350.0, "total": 640.0}}]),
    Reply(text="The **north** region sells the most: 350 of 640, that is 54.7% of the revenue."),
)
""", CHECK),
    code("""
%%glm --model glm-4.7 --tools revenue_by,share
Which region sells the most, and what share of the revenue is that?
"""),
    md("`_glm` keeps the record: every call with its result, and the whole exchange as sent."),
    code("""
for call in _glm.tool_calls:
    print(call.name, call.arguments, "->", call.output)
print([m["role"] for m in _glm.messages])
""", CHECK),
    code('print(server.requests[-1].json["messages"][-1])', CHECK),
    md("""
## 2. Ask before a risky call

`glm.tool(fn, approve=True)` (or a predicate on the arguments) asks before each call: in
JupyterLab with Approve / Deny buttons in the answer, in a terminal with a question. In plain
Python, `approver=` decides; a denied call tells the model "denied by the user".
"""),
    code('''
deleted = []

def delete_rows(region: str) -> str:
    """Delete every sales row of a region."""
    deleted.append(region)
    return f"deleted the {region} rows"

careful = glm.tool(delete_rows, approve=lambda args: args["region"] != "north")

server.enqueue(
    Reply(tool_calls=[{"id": "d1", "name": "delete_rows", "arguments": {"region": "north"}},
                      {"id": "d2", "name": "delete_rows", "arguments": {"region": "east"}}]),
    Reply(text="I deleted the north rows; deleting east was refused."),
)
result = glm.get_client().chat(
    "Delete north and east.", model="glm-4.7", tools=[careful],
    approver=lambda call: False,  # a script's policy: refuse whatever needs approval
)
print(deleted)
for call in result.tool_calls:
    print(call.arguments, "->", call.output)
''', CHECK),
    md("""
## 3. When a tool fails

The model gets `Error: <Type>: <message>` and may try again; the block shows the error. Arguments
that do not fit the schema never reach your function.
"""),
    code("""
server.enqueue(
    Reply(tool_calls=[{"id": "e1", "name": "revenue_by", "arguments": {"column": "colour"}}]),
    Reply(tool_calls=[{"id": "e2", "name": "share", "arguments": {"part": "a lot"}}]),
    Reply(text="There is no colour column; by product, tea sells the most."),
)
""", CHECK),
    code("""
%%glm --model glm-4.7 --tools revenue_by,share
Which colour sells best?
"""),
    code("""
for call in _glm.tool_calls:
    print(call.name, "->", call.error.splitlines()[0])
""", CHECK),
    md("""
## 4. Thinking kept across the tool turns

GLM-4.7 and later think before they answer. Inside a tool loop, each turn's thinking
(`reasoning_content`) goes back to GLM with the tool results, exactly as it arrived: GLM continues
from it (*interleaved thinking*). `--no-clear-thinking` (or `clear_thinking=False`, or `%config
GLMMagics.clear_thinking = False`) turns on *preserved thinking*: the request says
`"thinking": {"type": "enabled", "clear_thinking": false}` and GLM keeps earlier turns' reasoning
too (the coding endpoint does so by default). `--reasoning-effort high` asks GLM-5.2 to think less
than its default `max`.

GLM requires the reasoning sent back to be complete and unmodified. The test server checks it the
same way: `Reply(require_reasoning_back=True)` answers HTTP 400 (as GLM does) if an earlier
answer comes back with its reasoning changed.
"""),
    code("""
server.reset()
server.enqueue(
    Reply(reasoning="The top product needs revenue by product first.",
          tool_calls=[{"id": "t1", "name": "revenue_by", "arguments": {"column": "product"}}]),
    Reply(reasoning="Coffee: 360 of 640. Now its share.",
          tool_calls=[{"id": "t2", "name": "share", "arguments": {"part": 360.0, "total": 640.0}}],
          require_reasoning_back=True),
    Reply(reasoning="56.2% for coffee; one sentence.",
          text="**Coffee** sells the most: 360 of 640, that is 56.2% of the revenue.",
          require_reasoning_back=True),
)
""", CHECK),
    code("""
%%glm --model glm-5.2 --tools revenue_by,share --no-clear-thinking --reasoning-effort high
Which product sells the most, and what share of the revenue is that?
"""),
    md("What the last request carried: the thinking controls, and each earlier turn's reasoning, unchanged."),
    code("""
last = server.requests[-1]
print(last.json["thinking"], last.json["reasoning_effort"])
for message in last.json["messages"]:
    if message["role"] == "assistant":
        print(repr(message["reasoning_content"]))
print("problems:", last.reasoning_problems, "| turns checked:", server.check_preserved_thinking())
""", CHECK),
    md("A history whose reasoning was \"tidied up\" (here: its final full stop dropped) is refused:"),
    code("""
edited = [dict(m) for m in last.json["messages"]]
edited[1]["reasoning_content"] = edited[1]["reasoning_content"].rstrip(".")
server.enqueue(Reply(text="not reached", require_reasoning_back=True))
try:
    glm.get_client().chat(edited, model="glm-5.2", clear_thinking=False)
except glm.InvalidRequestError as exc:
    print(type(exc).__name__, "-", server.requests[-1].reasoning_problems[0])
""", CHECK),
    md("""
## 5. Typed answers

`--schema Person` (a pydantic model, a dataclass, a TypedDict or a JSON-schema dict) asks for JSON
that fits and puts the validated object in `_glm.parsed`. An answer that does not fit gets one
repair turn with the validation error.
"""),
    code("""
from dataclasses import dataclass

@dataclass
class Person:
    name: str
    age: int

server.enqueue(
    Reply(text='{"name": "Ada Lovelace", "age": "thirty-six"}'),
    Reply(text='{"name": "Ada Lovelace", "age": 36}'),
)
""", CHECK),
    code("""
%%glm --model glm-4.7 --schema Person
Ada Lovelace died at 36. Extract the person.
"""),
    code("print(repr(_glm.parsed))", CHECK),
    code("server.stop()", CHECK),
    md("""
## 6. The same on the offline model

llama.cpp constrains the offline model's output to the schema, so even a tiny model
returns an object that validates. (With a GLM key set, `glm.reset_client()` and the same cell asks
GLM.)
"""),
    code("""
glm.set_client(glm.GLMClient(provider="local"))
result = glm.get_client().chat("A person:", schema=Person, temperature=0, max_tokens=40)
print(type(result.parsed).__name__, isinstance(result.parsed.age, int))
""", CHECK),
]


NOTEBOOKS["07_batch"] = [
    md("""
# One prompt over many rows: `glm.map`, resumable, and GLM's Batch API

`glm.map(template, data)` asks the template once per row (a DataFrame's `{column}` placeholders
filled per row), as many at a time as the server allows: it finds the concurrency limit itself.
Every answer is committed to a local SQLite cache, so a re-run after an interrupt or a kernel
restart sends only the rows that have no answer yet. For big jobs that are not urgent,
`glm.batch.submit` uses GLM's Batch API (half price).
"""),
    code("%load_ext glm_notebook", CHECK),
    code("""
import os, tempfile
os.environ["GLM_NOTEBOOK_CACHE"] = os.path.join(tempfile.mkdtemp(), "answers.sqlite3")  # a fresh cache for this demo

import pandas as pd
import glm_notebook as glm

reviews = pd.DataFrame({"text": [f"Review number {i}: the tea was {'great' if i % 3 else 'cold'}." for i in range(30)]})
print(len(reviews), "rows")
""", CHECK),
    md("""
## 1. Thirty rows on the offline model

A live line shows done, in flight, the current limit, rows/s and the ETA; the saved notebook
keeps a one-line summary. (The offline model serves one request at a time, so the limit stays at 1.)
"""),
    code("""
result = glm.map("Review: {text}\\nSentiment (positive or negative):", reviews, max_tokens=3, temperature=0)
reviews["sentiment"] = result.texts
print(result.done, "answers,", len(result.errors), "failed")
""", IGNORE),
    code("print(result.done, len(result.errors))", CHECK),
    md("""
## 2. An interrupted run resumes where it stopped

Here the run is interrupted (as the ■ button does) after a few answers on a scripted test server
that takes 50 ms per answer. The partial result is returned (and is in `_glm`); the re-run serves
the finished rows from the cache and sends only the rest.
"""),
    code("""
import _thread, threading
from glm_notebook.testing import GLMTestServer

server = GLMTestServer(latency=0.05).start()
client = glm.GLMClient(provider="zai", base_url=server.base_url, api_key="demo-key-0000")
rows = [f"row {i}" for i in range(200)]

def interrupt_soon():
    server.wait_for_requests(20, timeout=30)
    _thread.interrupt_main()

threading.Thread(target=interrupt_soon, daemon=True).start()
partial = glm.map("Echo {text}", rows, client=client)
""", IGNORE),
    code('print(partial.stopped, "| some rows done:", 0 < partial.done < 200)', CHECK),
    code("""
asked_before = len(server.requests)
rest = glm.map("Echo {text}", rows, client=client)
""", IGNORE),
    code("""
print(rest.done == 200, "| served from the cache:", len(rest.cached) == partial.done,
      "| sent now:", len(server.requests) - asked_before == 200 - partial.done)
""", CHECK),
    md("""
## 3. GLM's Batch API

`glm.batch.submit` writes the JSONL, uploads it, creates the batch and records the job, so a new
kernel finds it again with `glm.batch.jobs()`. `job.wait()` polls with backoff; `job.results()`
maps the output lines back to the input order. Against the test server, which plays the Batch API
(validating → in progress → completed) in a few polls:
"""),
    code("""
job = glm.batch.submit("Summarise: {text}", reviews.head(5), client=client, temperature=0)
state = job.wait(poll_interval=0.01)
""", IGNORE),
    code("""
print(state.status, state.completed, "completed,", state.failed, "failed")
print(job.results().texts[:2])
""", CHECK),
    code("print(any(j.id == job.id for j in glm.batch.jobs()))", CHECK),
    code("server.stop()", CHECK),
]


NOTEBOOKS["08_record_and_replay"] = [
    md("""
# Record at home, replay in class

A lesson that asks a cloud model needs a key, a network and money every time it runs, and gives
different answers each time. Record it once, at home, with your key; commit the **answer file**
next to the notebook; in class (or in CI) it replays with **no key and no network**, the same
answers, and sends nothing.

Here a local test server plays GLM's cloud, so this notebook runs anywhere.
"""),
    code("""
import os, secrets, tempfile
import glm_notebook as glm
from glm_notebook.testing import GLMTestServer

folder = tempfile.mkdtemp()
answers = os.path.join(folder, "lesson.answers.jsonl")   # in real life: next to the notebook, committed
server = GLMTestServer().start()                           # plays GLM's cloud
home_key = "sk-" + secrets.token_hex(12)                   # your key at home (never saved anywhere)
os.environ.update(GLM_PROVIDER="zai", GLM_BASE_URL=server.base_url, ZAI_API_KEY=home_key)
glm.reset_client()
print("at home, with a key")
""", CHECK),
    code("%load_ext glm_notebook", CHECK),
    md("## 1. At home: record\n\n`%glm replay FILE` answers from the file when it can; anything not in it is asked and **appended**."),
    code('%glm replay "$answers"', IGNORE),
    code("""
%%glm --temperature 0
What does temperature do when sampling?
"""),
    code("""
from glm_notebook.testing import Reply

def exam_date(course: str) -> str:
    \"\"\"The date of a course's exam.\"\"\"
    return "12 June"

# what the "cloud" will answer: first a call of the tool, then the answer using its result
server.enqueue(Reply(tool_calls=[{"name": "exam_date", "arguments": {"course": "statistics"}}]),
               Reply(text="The statistics exam is on 12 June."))
"""),
    code("""
%%glm --tools exam_date
When is the exam of the statistics course?
"""),
    code('print("requests sent:", len(server.requests), "| replayed:", _glm.provenance["replayed"])', CHECK),
    md("""
The file is plain text, one answer a line, keys sorted: review it in a diff like code. It holds
the answers, the model and when they were recorded, never the key or your messages (only a hash).
"""),
    code("""
import json
lines = open(answers, encoding="utf-8").read().splitlines()
print(len(lines), "answers |", sorted(json.loads(lines[0])))
print("key in the file:", home_key in open(answers).read())
""", CHECK),
    md("""
## 2. In class: no key, no network, strict

Strict replay sends nothing at all: a question that is not in the file fails with one line
saying how to record it. In CI or nbval set it before the kernel starts:
`GLM_NOTEBOOK_REPLAY=lesson.answers.jsonl GLM_NOTEBOOK_REPLAY_STRICT=1`.
"""),
    code("""
server.stop()                                              # no network
for name in ("GLM_PROVIDER", "GLM_BASE_URL", "ZAI_API_KEY"):
    os.environ.pop(name)                                   # no key
glm.reset_client()
before = len(server.requests)
print("in class:", glm.get_client().provider)
""", CHECK),
    code('%glm replay "$answers" --strict', IGNORE),
    code("""
%%glm --temperature 0
What does temperature do when sampling?
"""),
    code("""
%%glm --tools exam_date
When is the exam of the statistics course?
"""),
    code('print("requests sent:", len(server.requests) - before, "| replayed:", _glm.provenance["replayed"])', CHECK),
    md("""
The status line says *replayed*, when and with which model it was recorded. The tool still ran
(its result is the next turn's question): had it answered differently, that turn would be a miss.
Every saved answer also carries this **provenance** in its output metadata (`glm_notebook`):
"""),
    code("print(sorted(_glm.provenance))", CHECK),
    md("A question that was never recorded sends nothing and says what to do:"),
    code("""
%%glm --temperature 0
A question nobody recorded.
"""),
    code('print(type(_glm.error).__name__)\n%glm replay off', CHECK),
]


def build(name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source, tags in NOTEBOOKS[name]:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, HERE / f"{name}.ipynb")
    print(f"wrote {name}.ipynb")


if __name__ == "__main__":
    for name in sys.argv[1:] or list(NOTEBOOKS):
        build(name)
