//! Shared test support: the manager behavioural suite and the end-to-end harness.
#![allow(dead_code)]

pub mod chaos;
pub mod chaos_scale;
pub mod e2e_http;
pub mod fanout_scenarios;
pub mod interop;
pub mod manager_suite;
pub mod mcp_scenarios;
pub mod oauth;
pub mod operator;
pub mod package;
pub mod stream_scenarios;
pub mod tasks;
pub mod tmcp;
pub mod workerd;
