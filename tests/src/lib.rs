//! Helpers shared by runlog integration tests.
