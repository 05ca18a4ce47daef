//! Panics a [`Fake`](crate::Fake) throws on purpose, kept off stderr.

use std::any::Any;
use std::sync::Once;

/// Marker in the message of every panic a [`Fake`](crate::Fake) throws on purpose; the panic hook installed by
/// [`quiet_scripted_panics`] keeps them off stderr.
pub const SCRIPTED_PANIC: &str = "scripted panic";

/// The message of a panic payload, if it is a string.
pub fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Installs (once per process) a panic hook that stays silent for the panics a [`Fake`](crate::Fake) throws on
/// purpose (they contain [`SCRIPTED_PANIC`]) and hands every other panic to the hook installed
/// before it. Call it after any other hook is in place (shuttle installs one on its first run).
pub fn quiet_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic_text(info.payload()).is_some_and(|m| m.contains(SCRIPTED_PANIC)) {
                return;
            }
            previous(info);
        }));
    });
}
