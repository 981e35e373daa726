//! Compute hosts (OpenIDCS `hs_config`): one row per hypervisor Gantry manages, keyed by its
//! name. The host's settings are JSON text the compute context owns.

use gantry_store::{Db, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A stored host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRecord {
    /// `hs_name`.
    pub name: String,
    /// Engine key (`QEMUServer`).
    pub server_type: String,
    /// Settings, JSON.
    pub config: String,
    /// VMs may not be created or started while set.
    pub maintenance: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "name, server_type, config, maintenance, created_at, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<HostRecord> {
    Ok(HostRecord {
        name: row.try_get("name")?,
        server_type: row.try_get("server_type")?,
        config: row.try_get("config")?,
        maintenance: row.try_get::<i64, _>("maintenance")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new host; a taken name is a conflict.
pub async fn create(db: &Db, host: &HostRecord) -> StoreResult<()> {
    let mut conn = db.pool().acquire().await?;
    insert(&mut conn, host).await
}

/// Inserts a host on an open connection or transaction.
pub async fn insert(conn: &mut AnyConnection, host: &HostRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compute_hosts (name, server_type, config, maintenance, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&host.name)
    .bind(&host.server_type)
    .bind(&host.config)
    .bind(i64::from(host.maintenance))
    .bind(host.created_at)
    .bind(host.updated_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "host"))?;
    Ok(())
}

/// Replaces a host's settings and flags on an open connection; false if it does not exist.
pub async fn replace(conn: &mut AnyConnection, host: &HostRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE compute_hosts SET server_type = $2, config = $3, maintenance = $4, updated_at = $5 WHERE name = $1",
    )
    .bind(&host.name)
    .bind(&host.server_type)
    .bind(&host.config)
    .bind(i64::from(host.maintenance))
    .bind(host.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Replaces a host's settings and flags; false if it does not exist.
pub async fn update(db: &Db, host: &HostRecord) -> StoreResult<bool> {
    let mut conn = db.pool().acquire().await?;
    replace(&mut conn, host).await
}

/// One host.
pub async fn get(db: &Db, name: &str) -> StoreResult<Option<HostRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM compute_hosts WHERE name = $1");
    sqlx::query(&sql).bind(name).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// Every host, by name.
pub async fn list(db: &Db) -> StoreResult<Vec<HostRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM compute_hosts ORDER BY name");
    sqlx::query(&sql).fetch_all(db.pool()).await?.iter().map(from_row).collect()
}

/// Deletes a host and, when `with_vms`, its VM records, in one transaction. Returns false if the
/// host does not exist; refuses (conflict) a host that still has VMs unless `with_vms`.
pub async fn delete(db: &Db, name: &str, with_vms: bool) -> StoreResult<bool> {
    let mut tx = db.pool().begin().await?;
    let vms: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM compute_vms WHERE host = $1").bind(name).fetch_one(&mut *tx).await?;
    if vms > 0 && !with_vms {
        return Err(StoreError::Conflict(format!("host {name} has {vms} VMs")));
    }
    sqlx::query("DELETE FROM compute_vms WHERE host = $1").bind(name).execute(&mut *tx).await?;
    let done = sqlx::query("DELETE FROM compute_hosts WHERE name = $1").bind(name).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Writes a whole inventory in one transaction: each host and VM is inserted, or replaced
/// when it exists (VMs keep their agent report). Nothing is written if any row fails.
pub async fn import(db: &Db, hosts: &[HostRecord], vms: &[super::vms::VmRecord]) -> StoreResult<()> {
    let mut tx = db.pool().begin().await?;
    for host in hosts {
        if !replace(&mut tx, host).await? {
            insert(&mut tx, host).await?;
        }
    }
    for vm in vms {
        if !super::vms::replace(&mut tx, vm).await? {
            super::vms::insert(&mut tx, vm).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Gives every host no machine runs yet to `machine`.
pub async fn claim_unowned(db: &Db, machine: &str) -> StoreResult<()> {
    sqlx::query("UPDATE compute_hosts SET machine = $1 WHERE machine IS NULL").bind(machine).execute(db.pool()).await?;
    Ok(())
}

/// Records that `machine` runs host `name`.
pub async fn set_machine(db: &Db, name: &str, machine: &str) -> StoreResult<()> {
    sqlx::query("UPDATE compute_hosts SET machine = $1 WHERE name = $2")
        .bind(machine)
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The machine that runs host `name` and where its gateway was last seen serving: `None` for
/// an unknown host.
pub async fn machine_of(db: &Db, name: &str) -> StoreResult<Option<(Option<String>, Option<String>)>> {
    let row = sqlx::query(
        "SELECT h.machine, m.addr FROM compute_hosts h LEFT JOIN compute_machines m ON m.id = h.machine \
         WHERE h.name = $1",
    )
    .bind(name)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| Ok((r.try_get("machine")?, r.try_get("addr")?))).transpose()
}

/// Records where `machine`'s gateway serves.
pub async fn machine_seen(db: &Db, machine: &str, addr: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compute_machines (id, addr, seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, seen_at = excluded.seen_at",
    )
    .bind(machine)
    .bind(addr)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The hosts `machine` runs, by name.
pub async fn list_on(db: &Db, machine: &str) -> StoreResult<Vec<HostRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM compute_hosts WHERE machine = $1 ORDER BY name");
    sqlx::query(&sql).bind(machine).fetch_all(db.pool()).await?.iter().map(from_row).collect()
}
