//! The in-memory store passes the suite every backend must pass.

use earmark_index::{MemoryStore, Store, conformance};

#[test]
fn memory_store_conforms() {
    conformance::run_all(&|| Box::new(MemoryStore::new(1)) as Box<dyn Store>);
}
