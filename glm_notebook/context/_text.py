"""Text helpers every ``describe`` uses: cutting to a budget, stripping terminal codes, and
keeping secrets out of what the model is sent (``looks_secret``, ``mask_secrets``).

``mask_secrets`` is the one masker for everything the notebook sends a model (``%glm fix``,
``--context``/``context=``, ``{name}`` with ``--vars``, ``glm.describe``). It replaces:

- values bound to a secret-looking name (``looks_secret``: key, token, secret, password, passwd,
  pwd, passphrase, credential, auth) wherever the text binds them: ``api_key = 'sk-…'``,
  ``password: str = "…"``, keyword arguments ``token="…"``, dict items ``'secret': '…'``,
  ``PASSWORD=…`` lines, ``"auth" => "…"``;
- strings shaped like provider keys anywhere: GLM/Zhipu (``<32 hex>.<16 alnum>``), ``sk-…``
  (OpenAI, Anthropic ``sk-ant-…``), GitHub (``ghp_…``, ``github_pat_…``), AWS (``AKIA…``), Slack
  (``xox…``), Google (``AIza…``), Hugging Face (``hf_…``), Stripe, JWTs (``eyJ….….``), the token
  after ``Bearer``/``Basic``, a URL's password (``https://user:pw@host``), PEM private keys;
- the exact values of secret-looking environment variables, every API key this process holds
  (``_settings.seen_keys``), and values the notebook layer registers (``_sources.add_secret_source``: the
  string variables of the user's namespace with secret-looking names), so a key that reached an
  exception message or a repr by another name is masked too.

Each becomes its masked form (``sk-…abcd``; ``…****`` for values under 16 characters).
"""

from __future__ import annotations

import os
import re

from .._settings import mask_key, seen_keys
from ._sources import sources

# A name part meaning a secret; not "keyboard", "keyword", "tokenizer", "author", "authority".
_SECRET_WORD = (
    r"(?:key(?!board|word|stroke|frame|note)|token(?!i[sz])|secret|passw(?:or)?d|pwd|passphrase"
    r"|credential|auth(?!or))"
)
_SECRET_NAME = re.compile(_SECRET_WORD, re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

# name <op> value. The name is one token (at most 100 characters, starting where a token starts,
# so matching stays linear in the text's length); the callback keeps it unless it looks secret.
# The value is a quoted string (optional r/b/f/u prefix, at most 4096 characters) or a bare token
# of 6+ characters that is not a call, attribute or subscript (``token = make_token()`` stays).
_BOUND = re.compile(
    r"""(?<![\w.\-])(?P<name>["']?[\w.\-]{1,100}["']?\]?)(?P<annotation>\s*:\s*[\w\[\]., |]{1,60}(?=\s*=))?"""
    r"""(?P<op>\s*(?:=>|:=|==|!=|=|:|,)\s*)"""
    r"""(?:(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>\"\"\"|'''|"|')(?P<quoted>.{0,4096}?)(?P=quote)"""
    r"""|(?P<bare>(?![rRbBuUfF]{0,2}["'])[^\s"'`,;()\[\]{}<>]{6,4096})(?![\w(.\[]))""",
    re.DOTALL,
)
_SHAPES = re.compile(
    r"""(?<![\w.])(?:"""
    r"""[0-9a-fA-F]{32}\.[A-Za-z0-9]{16}"""  # GLM / Zhipu
    r"""|sk-[A-Za-z0-9_\-]{16,}"""  # OpenAI, Anthropic (sk-ant-), DeepSeek, Moonshot, …
    r"""|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"""
    r"""|(?:AKIA|ASIA)[0-9A-Z]{16}"""
    r"""|xox[abprse]-[A-Za-z0-9\-]{10,}"""
    r"""|AIza[0-9A-Za-z_\-]{30,}"""
    r"""|hf_[A-Za-z0-9]{30,}"""
    r"""|[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"""
    r"""|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]+)?"""
    r""")(?![\w])"""
)
_SCHEME_TOKEN = re.compile(r"(?P<scheme>\b(?:Bearer|Basic|Token)\s+)(?P<token>[A-Za-z0-9._~+/=\-]{8,})", re.I)
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,30}://[^:/\s@]{1,256}:)(?P<password>[^@\s/]{1,256})(?=@)",
    re.I,
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)

_DATA_LIKE = re.compile(r"[A-Za-z][A-Za-z _.\-]*")

# Known values shorter than this are not searched for (masking every "abc" would garble text).
_MIN_KNOWN = 6


_NOT_SECRET = re.compile(r"(?:Error|Exception|Warning)\W*$")  # KeyError: 'price' is a traceback line


def looks_secret(name: object) -> bool:
    """True for a name such as ``ZAI_API_KEY``, ``token``, ``db_password``, ``cfg.auth``
    (not for exception names such as ``KeyError``, ``AuthenticationError``)."""
    return isinstance(name, str) and bool(_SECRET_NAME.search(name)) and not _NOT_SECRET.search(name)


def masked(value: str) -> str:
    """One secret value's masked form (``sk-…abcd``; ``…****`` under 16 characters)."""
    return mask_key(value)


def _known_values() -> list[str]:
    values = {v for name, v in os.environ.items() if looks_secret(name) and len(v.strip()) >= 8}
    for source in list(sources):
        try:
            values.update(v for v in source() if isinstance(v, str))
        except Exception:  # noqa: BLE001 - a broken source must not stop the masking
            continue
    # A value made only of letters, spaces, "_", "." and "-" is data, not a secret (sort_key =
    # "revenue", GIT_AUTHOR_NAME): searched for everywhere it would blank a column name or a word.
    # Where such a value is bound to a secret-looking name in source it is still masked there.
    values = {v for v in values if not _DATA_LIKE.fullmatch(v.strip())}
    values |= seen_keys()  # keys this process held: always
    return sorted((v.strip() for v in values if len(v.strip()) >= _MIN_KNOWN), key=len, reverse=True)


def _is_masked(value: str) -> bool:
    """Already the output of ``masked`` (``sk-…abcd``, ``…****``): masking twice hides the tail."""
    return len(value) <= 8 and "…" in value


def _mask_bound(match: re.Match[str]) -> str:
    name = match.group("name")
    if not looks_secret(name) or (match.group("op").strip() == "," and name[:1] not in "\"'"):
        return match.group(0)  # "," binds only after a quoted name: setenv("TOKEN", "…")
    head = match.group("name") + (match.group("annotation") or "") + match.group("op")
    if match.group("quote") is not None:
        quote = match.group("quote")
        value = match.group("quoted")
        shown = masked(value) if value and not _is_masked(value) else value
        return f"{head}{match.group('prefix')}{quote}{shown}{quote}"
    bare = match.group("bare")
    return head + (bare if _is_masked(bare) else masked(bare))


def mask_secrets(text: str) -> str:
    """``text`` with every secret this module knows how to find masked (see the module docstring)."""
    if not text:
        return text
    for value in _known_values():
        if value in text:
            text = text.replace(value, masked(value))
    text = _PEM.sub("-----PRIVATE KEY (masked)-----", text)
    text = _SCHEME_TOKEN.sub(lambda m: m.group("scheme") + masked(m.group("token")), text)
    text = _BOUND.sub(_mask_bound, text)
    text = _SHAPES.sub(lambda m: masked(m.group(0)), text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + masked(m.group("password")), text)


def truncate_middle(text: str, budget: int, *, unit: str = "characters") -> str:
    """``text`` cut in the middle to at most ``budget`` characters, saying how much was left out."""
    if len(text) <= budget:
        return text
    note_len = len(f"\n[{len(text):,} {unit} left out of {len(text):,}]\n")
    keep = max(budget - note_len, 0)
    head = keep * 2 // 3  # the start usually says more than the end
    tail = keep - head
    left_out = len(text) - head - tail
    note = f"\n[{left_out:,} {unit} left out of {len(text):,}]\n"
    return text[:head] + note + (text[len(text) - tail :] if tail else "")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour and cursor codes (IPython tracebacks are full of them)."""
    return _ANSI.sub("", text)
