//! What the index benches share.

pub use earmark_test_support::data_dir;
