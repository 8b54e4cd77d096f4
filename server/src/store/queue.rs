//! The queue in front of a backend's writer(s), the same for both: each request queues its
//! participation with a channel for its answer and waits for that answer; the writer applies
//! what is queued in batches (group commit) and answers after the COMMIT.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{NewParticipation, ParticipateError, Participation, StoreError};
use crate::config::Campaign;

/// A participation queued for the writer(s), with where to send its answer.
pub(crate) struct Job {
    pub(crate) campaign: Arc<Campaign>,
    pub(crate) p: NewParticipation,
    pub(crate) reply: oneshot::Sender<Result<Participation, ParticipateError>>,
}

/// Queues `p` for the writer(s) reading `queue` and waits for its answer. A full queue is
/// waited on for room at most `wait`; past it the participation is not queued (nothing is
/// recorded) and the answer is 503 `database_unavailable`, logged as "the writer queue stayed
/// full". `backend` prefixes the errors.
pub(crate) async fn through_writer(
    queue: &mpsc::Sender<Job>,
    wait: Duration,
    backend: &str,
    campaign: Arc<Campaign>,
    p: NewParticipation,
) -> Result<Participation, ParticipateError> {
    let permit = match tokio::time::timeout(wait, queue.reserve()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => {
            return Err(StoreError::new(format!("{backend}: the writer has stopped")).into())
        }
        Err(_) => {
            return Err(StoreError::new(format!(
                "{backend}: the writer queue stayed full for {wait:?}; participation not recorded"
            ))
            .unavailable()
            .into())
        }
    };
    let (reply, answer) = oneshot::channel();
    permit.send(Job { campaign, p, reply });
    answer.await.map_err(|_| {
        ParticipateError::from(StoreError::new(format!(
            "{backend}: the writer stopped before answering"
        )))
    })?
}
