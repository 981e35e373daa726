//! Compute VMs (OpenIDCS `vm_saving`): one row per VM of a host, unique by `(host, vm_uuid)` and
//! by `(host, name)`. The VM's configuration (NICs, NAT rules, proxies) is JSON text the
//! compute context owns; the in-VM agent's secret is kept only as a digest.

use gantry_store::{Db, StoreError, StoreResult};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A stored VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmRecord {
    pub host: String,
    pub vm_uuid: String,
    pub name: String,
    /// Configuration, JSON.
    pub config: String,
    /// Digest of the agent secret (hex SHA-256).
    pub agent_secret_hash: String,
    /// The agent's last report, JSON.
    pub last_report: Option<String>,
    pub reported_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "host, vm_uuid, name, config, agent_secret_hash, last_report, reported_at, created_at, updated_at";

fn from_row(row: &AnyRow) -> StoreResult<VmRecord> {
    Ok(VmRecord {
        host: row.try_get("host")?,
        vm_uuid: row.try_get("vm_uuid")?,
        name: row.try_get("name")?,
        config: row.try_get("config")?,
        agent_secret_hash: row.try_get("agent_secret_hash")?,
        last_report: row.try_get("last_report")?,
        reported_at: row.try_get("reported_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Stores a new VM; a taken id or name on the host is a conflict.
pub async fn create(db: &Db, vm: &VmRecord) -> StoreResult<()> {
    let mut conn = db.pool().acquire().await?;
    insert(&mut conn, vm).await
}

/// Inserts a VM on an open connection or transaction.
pub async fn insert(conn: &mut AnyConnection, vm: &VmRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compute_vms (host, vm_uuid, name, config, agent_secret_hash, last_report, reported_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&vm.host)
    .bind(&vm.vm_uuid)
    .bind(&vm.name)
    .bind(&vm.config)
    .bind(&vm.agent_secret_hash)
    .bind(vm.last_report.as_deref())
    .bind(vm.reported_at)
    .bind(vm.created_at)
    .bind(vm.updated_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "VM id or name"))?;
    Ok(())
}

/// Replaces a VM's name, configuration and secret digest on an open connection; false if the
/// VM does not exist. A name taken on the host is a conflict.
pub async fn replace(conn: &mut AnyConnection, vm: &VmRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE compute_vms SET name = $3, config = $4, agent_secret_hash = $5, updated_at = $6 \
         WHERE host = $1 AND vm_uuid = $2",
    )
    .bind(&vm.host)
    .bind(&vm.vm_uuid)
    .bind(&vm.name)
    .bind(&vm.config)
    .bind(&vm.agent_secret_hash)
    .bind(vm.updated_at)
    .execute(conn)
    .await
    .map_err(|e| StoreError::on_unique(e, "VM name"))?;
    Ok(done.rows_affected() > 0)
}

/// Replaces a VM's name and configuration; false if it does not exist.
pub async fn update(db: &Db, vm: &VmRecord) -> StoreResult<bool> {
    let mut conn = db.pool().acquire().await?;
    replace(&mut conn, vm).await
}

/// Stores the agent's report.
pub async fn report(db: &Db, host: &str, vm_uuid: &str, report: &str, at_ms: i64) -> StoreResult<()> {
    sqlx::query("UPDATE compute_vms SET last_report = $3, reported_at = $4 WHERE host = $1 AND vm_uuid = $2")
        .bind(host)
        .bind(vm_uuid)
        .bind(report)
        .bind(at_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One VM.
pub async fn get(db: &Db, host: &str, vm_uuid: &str) -> StoreResult<Option<VmRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM compute_vms WHERE host = $1 AND vm_uuid = $2");
    sqlx::query(&sql).bind(host).bind(vm_uuid).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// The VM whose agent secret has this digest.
pub async fn by_agent_hash(db: &Db, hash: &str) -> StoreResult<Option<VmRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM compute_vms WHERE agent_secret_hash = $1");
    sqlx::query(&sql).bind(hash).fetch_optional(db.pool()).await?.as_ref().map(from_row).transpose()
}

/// The VMs of a host (every host's when `None`), by host and name.
pub async fn list(db: &Db, host: Option<&str>) -> StoreResult<Vec<VmRecord>> {
    let rows = match host {
        Some(h) => {
            let sql = format!("SELECT {COLUMNS} FROM compute_vms WHERE host = $1 ORDER BY name, vm_uuid");
            sqlx::query(&sql).bind(h).fetch_all(db.pool()).await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM compute_vms ORDER BY host, name, vm_uuid");
            sqlx::query(&sql).fetch_all(db.pool()).await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Deletes a VM; false if it did not exist.
pub async fn delete(db: &Db, host: &str, vm_uuid: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM compute_vms WHERE host = $1 AND vm_uuid = $2")
        .bind(host)
        .bind(vm_uuid)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}
