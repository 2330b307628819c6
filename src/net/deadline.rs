//! An inactivity deadline that every message pushes out, re-armed in the timer wheel only when
//! it fires.
//!
//! `tokio::time::timeout` per read inserts a timer and removes it again for every message; when
//! the new deadline is the runtime's earliest, the insert also wakes the I/O driver (an eventfd
//! write and a spurious `epoll_wait` return). Measured on the MySQL command loop at ~17 k
//! queries/s: one eventfd write per 5 queries and ~4 µs of proxy CPU per query. Here activity
//! costs a clock read; the timer, set for an older deadline, fires early at most once per
//! period and is moved to the current one (HAProxy's lazy expiry of its connection timeouts).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The wait passed its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// How long something may stay pending, measured from the start of each wait.
#[derive(Debug)]
pub struct Deadline {
    period: Duration,
    /// Allocated by the first wait.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    pub fn new(period: Duration) -> Deadline {
        Deadline {
            period,
            sleep: None,
        }
    }

    /// Awaits `fut`, or fails when it is still pending `period` after this call; as
    /// `tokio::time::timeout(period, fut)`, without a timer insert per call.
    pub async fn within<F: Future>(&mut self, fut: F) -> Result<F::Output, Elapsed> {
        let deadline = Instant::now() + self.period;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // A timer that fired is moved; one still set for an earlier deadline (deadlines only
        // grow) is left to fire and is moved then.
        if sleep.is_elapsed() {
            sleep.as_mut().reset(deadline);
        }
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return Ok(out),
                () = sleep.as_mut() => {
                    if Instant::now() >= deadline {
                        return Err(Elapsed);
                    }
                    sleep.as_mut().reset(deadline);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn fails_a_period_after_the_wait_started() {
        let mut d = Deadline::new(ms(100));
        let t0 = Instant::now();
        assert_eq!(d.within(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(t0.elapsed(), ms(100));
        // Again after it fired: a full period from the new start.
        let t1 = Instant::now();
        assert_eq!(d.within(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(t1.elapsed(), ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_pushes_the_deadline_out() {
        let mut d = Deadline::new(ms(100));
        // Many waits that each complete within the period, 90 ms apart: never elapsed,
        // although the first timer was due long before the last wait.
        for _ in 0..5 {
            assert_eq!(d.within(tokio::time::sleep(ms(90))).await, Ok(()));
        }
        let t0 = Instant::now();
        assert_eq!(d.within(std::future::pending::<()>()).await, Err(Elapsed));
        assert_eq!(t0.elapsed(), ms(100), "measured from the last wait's start");
    }

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_wins_over_an_elapsed_timer() {
        let mut d = Deadline::new(ms(10));
        tokio::time::sleep(ms(50)).await;
        assert_eq!(d.within(async { 7 }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_output_of_a_slow_future_arrives() {
        let mut d = Deadline::new(ms(100));
        let t0 = Instant::now();
        let got = d
            .within(async {
                tokio::time::sleep(ms(99)).await;
                "late"
            })
            .await;
        assert_eq!((got, t0.elapsed()), (Ok("late"), ms(99)));
    }
}
