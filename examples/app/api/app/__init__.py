"""The example API deployed by opsctl's stack tests (see examples/app/README.md)."""
