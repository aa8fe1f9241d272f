"""Structured output on the embedded offline model: llama.cpp constrains the base model's decoding
to the schema (``{"type": "json_object", "schema": ...}``), so even a 270M base model answers with a
valid object, first time. Needs ``pip install 'glm-notebook[local]'`` (slowish: starts the model).
"""

from __future__ import annotations

import pytest
from typing_extensions import TypedDict

import glm_notebook as glm

pytestmark = pytest.mark.local


class Person(TypedDict):
    name: str
    age: int


def test_the_bundled_base_model_answers_with_a_valid_object_under_the_schema():
    with glm.GLMClient(provider="local", timeout=120.0) as client:
        result = client.chat(
            "Invent a person. Give their name and age.", schema=Person, temperature=0.0, max_tokens=100
        )
    assert result.request["response_format"]["schema"]["required"] == ["name", "age"]
    assert isinstance(result.parsed["name"], str) and isinstance(result.parsed["age"], int)
    assert set(result.parsed) == {"name", "age"}
    assert len(result.messages) == 2  # valid on the first turn: no repair needed
