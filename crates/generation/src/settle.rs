//! After a task ends: its charge is deducted (completed) or refunded (failed or
//! cancelled), and thumbnails are made from its outputs. Driven by task events, with a
//! sweep every few seconds (and at start) for events a slow listener missed.

use crate::GenerationService;
use gantry_core::events::{Envelope, Event};
use gantry_dispatch::TaskStatus;
use gantry_files::{FileKind, FileRecord, NewFile};
use gantry_ledger::Settlement;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

const SWEEP_EVERY: Duration = Duration::from_secs(5);
const THUMBNAIL_EDGE: u32 = 256;

/// The thumbnail file name of output `file_id`.
pub fn thumbnail_name(file_id: &str) -> String {
    format!("thumb-{file_id}.png")
}

pub async fn run(generation: GenerationService, mut events: Receiver<Envelope>, supervisor: gantry_core::Supervisor) {
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = supervisor.stopping() => return,
            _ = sweep.tick() => sweep_once(&generation).await,
            event = events.recv() => match event {
                // The gateway that ran the task settles it.
                Ok(envelope) if envelope.remote => {}
                Ok(envelope) => on_event(&generation, envelope.event).await,
                Err(RecvError::Lagged(_)) => sweep_once(&generation).await,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn on_event(generation: &GenerationService, event: Event) {
    match event {
        Event::TaskCompleted { task_id, .. } => finish(generation, &task_id, Settlement::Deducted).await,
        Event::TaskFailed { task_id, .. } | Event::TaskCancelled { task_id, .. } => {
            finish(generation, &task_id, Settlement::Refunded).await;
        }
        _ => {}
    }
}

/// Settles every frozen charge whose task has ended (completed → deducted; failed or
/// cancelled → refunded): the ledger names the frozen charges, dispatch their tasks' states.
async fn sweep_once(generation: &GenerationService) {
    let frozen = match generation.ledger.frozen_tasks().await {
        Ok(frozen) => frozen,
        Err(e) => return tracing::error!(error = %e, "cannot list unsettled charges"),
    };
    let states = match generation.dispatcher.states_of(&frozen).await {
        Ok(states) => states,
        Err(e) => return tracing::error!(error = %e, "cannot read the states of charged tasks"),
    };
    for (task_id, status) in states {
        let how = match status {
            TaskStatus::Completed => Settlement::Deducted,
            TaskStatus::Failed | TaskStatus::Cancelled => Settlement::Refunded,
            _ => continue,
        };
        finish(generation, &task_id, how).await;
    }
}

async fn finish(generation: &GenerationService, task_id: &str, how: Settlement) {
    if how == Settlement::Deducted {
        make_thumbnails(generation, task_id).await;
    }
    let reason = match how {
        Settlement::Deducted => "generation completed",
        Settlement::Refunded => "generation failed or cancelled",
    };
    match generation.ledger.settle(task_id, how, reason).await {
        Ok(Some(_)) if how == Settlement::Deducted => {
            if let Ok(Some(user_id)) = generation.dispatcher.owner(task_id).await {
                generation.events.publish(
                    generation.clock.now_ms(),
                    Event::TaskResultsReady { task_id: task_id.to_owned(), user_id },
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(task_id, error = %e, "cannot settle charge"),
    }
}

async fn make_thumbnails(generation: &GenerationService, task_id: &str) {
    let Ok(results) = generation.results(task_id).await else { return };
    for result in results.into_iter().filter(|r| r.thumbnail.is_none()) {
        let Ok(bytes) = generation.files.read(&result.file).await else { continue };
        let made = tokio::task::spawn_blocking(move || thumbnail(&bytes)).await;
        let Ok(Some(png)) = made else {
            tracing::warn!(task_id, file = %result.file.id, "no thumbnail for output");
            continue;
        };
        let new = NewFile {
            user_id: result.file.user_id,
            kind: FileKind::Thumbnail,
            filename: thumbnail_name(&result.file.id),
            bytes: png.into(),
            task_id: Some(task_id.to_owned()),
        };
        if let Err(e) = generation.files.put_media(new, usize::MAX).await {
            tracing::warn!(task_id, error = %e, "cannot store thumbnail");
        }
    }
}

/// A PNG at most 256 px on its longer edge, from an image (the first frame of an animation).
fn thumbnail(bytes: &[u8]) -> Option<Vec<u8>> {
    let image = image::load_from_memory(bytes).ok()?;
    let small = image.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE);
    let mut out = Vec::new();
    small.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).ok()?;
    Some(out)
}

/// Whether an output is its own thumbnail: a PNG that already fits, of which nothing is
/// decoded, scaled, encoded or stored again.
pub(crate) fn is_own_thumbnail(file: &FileRecord) -> bool {
    let fits = |edge: Option<i64>| edge.is_some_and(|e| e <= i64::from(THUMBNAIL_EDGE));
    file.content_type == "image/png" && fits(file.width) && fits(file.height)
}
