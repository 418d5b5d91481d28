//! A timer future on `setTimeout`.
//!
//! `worker::Delay` wakes its task before it records that the timeout fired, so a task polled
//! synchronously from the wake (as a streamed response body is) sees "not yet" and never wakes
//! again; the runtime then cancels the request as hung. This timer completes through a oneshot
//! channel instead, which has no such window.

use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;

/// Resolves after `ms` milliseconds.
pub fn sleep(ms: u32) -> LocalBoxFuture<'static, ()> {
    let (fired, wait) = oneshot::channel::<()>();
    let callback = Closure::once_into_js(move || {
        let _ = fired.send(());
    });
    let global: worker::web_sys::WorkerGlobalScope = worker::js_sys::global().unchecked_into();
    let scheduled = global.set_timeout_with_callback_and_timeout_and_arguments_0(
        callback.unchecked_ref(),
        i32::try_from(ms).unwrap_or(i32::MAX),
    );
    Box::pin(async move {
        // If the timer could not be scheduled, resolve at once rather than hang.
        if scheduled.is_ok() {
            let _ = wait.await;
        }
    })
}
