//! Shared test support: the manager behavioural suite and the end-to-end harness.
#![allow(dead_code)]

pub mod manager_suite;
#[cfg(not(target_arch = "wasm32"))]
pub mod workerd;
