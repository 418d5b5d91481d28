//! The tmcp adapter (js/tmcp-mesh) speaks the worker↔object protocol from JavaScript. Its constants
//! (paths, header, names, query keys, log levels) are not written by hand: `protocol.js` is rendered
//! from the Rust definitions (`mcp_mesh::js_constants`), and this test fails if the committed module
//! is not what the Rust renders now. `MESH_UPDATE_GOLDEN=1 cargo test --test js_protocol` rewrites it.
//! (The adapter's routing is the Rust routing itself, exported from the wasm build.)

use mcp_mesh::js_constants::{module, MODULE_PATH};

#[test]
fn the_adapter_protocol_module_is_the_one_rendered_from_rust() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MODULE_PATH);
    let rendered = module();
    if std::env::var_os("MESH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).expect("writing the adapter's protocol module");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{MODULE_PATH} is not what src/js_constants.rs renders; rewrite it with \
         `MESH_UPDATE_GOLDEN=1 cargo test --test js_protocol`"
    );
}
