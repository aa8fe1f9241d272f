"""Values shared by the test modules (conftest files are not importable by name: there are two)."""

TEST_KEY = "sk-test-0123456789-secret-abcd"
