"""Test tooling that does not ship with the package: the CPU vLLM server, the tiny checkpoint
builder and the counting oracle."""
