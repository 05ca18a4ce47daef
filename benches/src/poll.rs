//! Polling a future once by hand, without any executor: the hit and join paths of every variant
//! are driven the same way, so no executor's overhead ends up in one variant and not another.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls `future` once with a no-op waker; its output if it is ready at once.
#[inline]
pub fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Polls `future` once with a no-op waker and returns it (pinned, boxed) if it is still pending:
/// a caller that has *registered* its interest and now waits. Panics if it completed.
pub fn register<F: Future>(future: F) -> std::pin::Pin<Box<F>> {
    let mut future = Box::pin(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(_) => panic!("the future was expected to wait"),
        Poll::Pending => future,
    }
}
