//! The deployment's settings as the runtime gives them (vars and secrets), parsed once per isolate and
//! shared, not copied, by every request and by the objects in the isolate.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::config::MeshConfig;
use crate::error::Result;

thread_local! {
    static SETTINGS: RefCell<Option<Rc<MeshConfig>>> = const { RefCell::new(None) };
}

/// The settings from `env`. An invalid configuration is not kept: every request reports it (naming
/// the var) until it is fixed. Vars do not change while an isolate lives.
pub fn load(env: &Env) -> Result<Rc<MeshConfig>> {
    if let Some(settings) = SETTINGS.with(|cached| cached.borrow().clone()) {
        return Ok(settings);
    }
    let settings = Rc::new(MeshConfig::from_lookup(|name| {
        env.var(name).map(|v| v.to_string()).ok().or_else(|| env.secret(name).map(|v| v.to_string()).ok())
    })?);
    SETTINGS.with(|cached| *cached.borrow_mut() = Some(settings.clone()));
    Ok(settings)
}
