//! Several gateways over one PostgreSQL database: who is alive (a heartbeat row each), and
//! messages between them (PostgreSQL NOTIFY, with the body in a table when it is too large
//! for a notification). On SQLite there is one process and none of this is used.

use crate::{Backend, Db, StoreResult};
use sqlx::postgres::{PgListener, PgNotification};

/// Largest body sent inside a notification (PostgreSQL's limit is 8000 bytes); larger ones
/// go through `cluster_messages`.
const MAX_INLINE_BYTES: usize = 7000;
/// Marks a notification whose body is in `cluster_messages` under the id that follows.
const STORED_PREFIX: char = '@';
/// How long a stored message is kept for its listeners to read it.
const STORED_KEEP_MS: i64 = 5 * 60 * 1000;

/// Whether `db` can be shared by several gateways (PostgreSQL).
pub fn is_shared(db: &Db) -> bool {
    db.backend() == Backend::Postgres
}

/// Records that gateway `id` (listening at `addr`) is alive at `now`.
pub async fn beat(db: &Db, id: &str, addr: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO gateways (id, addr, started_at, seen_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, addr = excluded.addr",
    )
    .bind(id)
    .bind(addr)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The gateways seen since `since`, by id.
pub async fn live(db: &Db, since: i64) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM gateways WHERE seen_at >= $1 ORDER BY id")
        .bind(since)
        .fetch_all(db.pool())
        .await?)
}

/// Removes gateway `id` (it is stopping), and every gateway not seen since `before`.
pub async fn leave(db: &Db, id: &str, before: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM gateways WHERE id = $1 OR seen_at < $2").bind(id).bind(before).execute(db.pool()).await?;
    Ok(())
}

/// Most bytes of items in one notification: items waiting together share one.
const BATCH_BYTES: usize = 6_000;

/// One notification's body, `{"from": from, "<field>": [items]}`, of `first` (encoded JSON)
/// and then what `next` yields while the body is under a few kilobytes.
pub fn batch(from: &str, field: &str, first: String, mut next: impl FnMut() -> Option<String>) -> String {
    let mut size = first.len();
    let mut items = vec![first];
    while size < BATCH_BYTES {
        let Some(item) = next() else { break };
        size += item.len() + 1;
        items.push(item);
    }
    let from = serde_json::Value::from(from);
    let field = serde_json::Value::from(field);
    format!(r#"{{"from":{from},{field}:[{}]}}"#, items.join(","))
}

/// Sends `body` to every gateway listening on `channel` (this one included).
pub async fn notify(db: &Db, channel: &str, body: &str, now: i64) -> StoreResult<()> {
    let payload = if body.len() <= MAX_INLINE_BYTES {
        body.to_owned()
    } else {
        let id = format!("{now}-{:x}", std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), body));
        sqlx::query("DELETE FROM cluster_messages WHERE created_at < $1")
            .bind(now - STORED_KEEP_MS)
            .execute(db.pool())
            .await?;
        sqlx::query("INSERT INTO cluster_messages (id, body, created_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(body)
            .bind(now)
            .execute(db.pool())
            .await?;
        format!("{STORED_PREFIX}{id}")
    };
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(db.pool()).await?;
    Ok(())
}

/// A connection listening on `channels`.
pub async fn listen(db: &Db, channels: &[&str]) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect(db.url()).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(listener)
}

/// The body of a notification received by a [`listen`]er; `None` if a stored body is gone.
pub async fn body_of(db: &Db, notification: &PgNotification) -> StoreResult<Option<String>> {
    body_of_payload(db, notification.payload()).await
}

/// The body of a notification's payload; `None` if a stored body is gone.
pub async fn body_of_payload(db: &Db, payload: &str) -> StoreResult<Option<String>> {
    match payload.strip_prefix(STORED_PREFIX) {
        Some(id) => Ok(sqlx::query_scalar("SELECT body FROM cluster_messages WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?),
        None => Ok(Some(payload.to_owned())),
    }
}
