//! UI and behaviour tests for `telemetry-macros` live in `tests/`.
