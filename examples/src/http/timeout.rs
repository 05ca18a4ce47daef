//! A timeout combinator on `async-io`'s timer (works under any executor).

use std::time::Duration;

/// Runs `fut` for at most `after`; `None` when the time ran out first.
pub(crate) async fn timeout<T>(after: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        smol::Timer::after(after).await;
        None
    })
    .await
}
