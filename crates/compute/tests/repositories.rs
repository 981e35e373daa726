//! Compute repositories (hosts, VMs, audit log, tasks) against both engines.

use gantry_compute::repo::compute_log::{self, AuditFilter, AuditRecord, TaskFilter, TaskRecord, task_status};
use gantry_compute::repo::hosts::{self, HostRecord};
use gantry_compute::repo::vms::{self, VmRecord};
use gantry_store::{Db, StoreError};
use gantry_testkit::{BACKENDS, ScratchDb};

fn host(name: &str) -> HostRecord {
    HostRecord {
        name: name.into(),
        server_type: "QEMUServer".into(),
        config: format!(r#"{{"hs_name":"{name}"}}"#),
        maintenance: false,
        created_at: 10,
        updated_at: 10,
    }
}

fn vm(host: &str, uuid: &str, name: &str) -> VmRecord {
    VmRecord {
        host: host.into(),
        vm_uuid: uuid.into(),
        name: name.into(),
        config: "{}".into(),
        agent_secret_hash: format!("hash-{host}-{uuid}"),
        last_report: None,
        reported_at: None,
        created_at: 10,
        updated_at: 10,
    }
}

async fn seeded(db: &Db) {
    hosts::create(db, &host("h1")).await.unwrap();
    hosts::create(db, &host("h2")).await.unwrap();
    vms::create(db, &vm("h1", "a", "alpha")).await.unwrap();
    vms::create(db, &vm("h1", "b", "beta")).await.unwrap();
    vms::create(db, &vm("h2", "a", "alpha")).await.unwrap();
}

#[tokio::test]
async fn hosts_and_vms_are_unique_and_delete_together() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        seeded(&db).await;
        assert!(matches!(hosts::create(&db, &host("h1")).await, Err(StoreError::Conflict(_))), "{engine:?}");
        assert!(matches!(vms::create(&db, &vm("h1", "a", "other")).await, Err(StoreError::Conflict(_))));
        assert!(matches!(vms::create(&db, &vm("h1", "c", "alpha")).await, Err(StoreError::Conflict(_))));
        let mut renamed = vm("h1", "b", "alpha");
        assert!(matches!(vms::update(&db, &renamed).await, Err(StoreError::Conflict(_))), "{engine:?}");
        renamed.name = "gamma".into();
        renamed.config = r#"{"x":1}"#.into();
        assert!(vms::update(&db, &renamed).await.unwrap());
        assert_eq!(vms::get(&db, "h1", "b").await.unwrap().unwrap().config, r#"{"x":1}"#);
        assert!(!vms::update(&db, &vm("h1", "zz", "zz")).await.unwrap());

        let names: Vec<String> = vms::list(&db, Some("h1")).await.unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["alpha", "gamma"]);
        assert_eq!(vms::list(&db, None).await.unwrap().len(), 3);
        assert_eq!(vms::by_agent_hash(&db, "hash-h2-a").await.unwrap().unwrap().host, "h2");
        vms::report(&db, "h2", "a", r#"{"cpu":1}"#, 99).await.unwrap();
        let reported = vms::get(&db, "h2", "a").await.unwrap().unwrap();
        assert_eq!((reported.last_report.as_deref(), reported.reported_at), (Some(r#"{"cpu":1}"#), Some(99)));

        let mut h = host("h2");
        h.maintenance = true;
        h.updated_at = 20;
        assert!(hosts::update(&db, &h).await.unwrap());
        assert!(hosts::get(&db, "h2").await.unwrap().unwrap().maintenance);
        assert!(matches!(hosts::delete(&db, "h1", false).await, Err(StoreError::Conflict(_))));
        assert_eq!(vms::list(&db, Some("h1")).await.unwrap().len(), 2, "nothing deleted when refused");
        assert!(hosts::delete(&db, "h1", true).await.unwrap());
        assert!(vms::list(&db, Some("h1")).await.unwrap().is_empty());
        assert!(!hosts::delete(&db, "h1", true).await.unwrap());
        assert!(vms::delete(&db, "h2", "a").await.unwrap());
        assert!(!vms::delete(&db, "h2", "a").await.unwrap());
        assert_eq!(hosts::list(&db).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_import_writes_everything_or_nothing() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        seeded(&db).await;
        let mut changed = vm("h1", "a", "alpha-2");
        changed.config = r#"{"new":true}"#.into();
        hosts::import(&db, &[host("h1"), host("h3")], &[changed, vm("h3", "c", "gamma")]).await.unwrap();
        assert_eq!(vms::get(&db, "h1", "a").await.unwrap().unwrap().name, "alpha-2");
        assert!(vms::get(&db, "h3", "c").await.unwrap().is_some());
        // The second VM clashes with a stored name: the host and first VM are not written either.
        let clash = [vm("h4", "d", "delta"), vm("h1", "x", "beta")];
        assert!(hosts::import(&db, &[host("h4")], &clash).await.is_err(), "{engine:?}");
        assert!(hosts::get(&db, "h4").await.unwrap().is_none());
        assert!(vms::get(&db, "h1", "x").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn audit_and_tasks_filter_newest_first() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        for (i, (actor, action, host)) in
            [("admin", "vm.create", Some("h1")), ("admin", "nat.add", Some("h1")), ("bob", "vm.create", None)]
                .into_iter()
                .enumerate()
        {
            let entry = AuditRecord {
                id: format!("a{i}"),
                at_ms: 100 + i as i64,
                actor: actor.into(),
                actor_id: Some(1),
                action: action.into(),
                host: host.map(str::to_owned),
                vm_uuid: None,
                success: i != 1,
                message: String::new(),
            };
            compute_log::audit(&db, &entry).await.unwrap();
        }
        let all = compute_log::audits(&db, &AuditFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["a2", "a1", "a0"]);
        assert!(!all[1].success);
        let f = AuditFilter {
            actor: Some("admin".into()),
            action: Some("vm.create".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(compute_log::audits(&db, &f).await.unwrap().len(), 1);
        let f = AuditFilter { host: Some("h1".into()), limit: 1, ..Default::default() };
        assert_eq!(compute_log::audits(&db, &f).await.unwrap()[0].id, "a1");

        let task = |id: &str, at: i64| TaskRecord {
            id: id.into(),
            kind: "start".into(),
            host: Some("h1".into()),
            vm_uuid: Some("v".into()),
            actor: "admin".into(),
            status: task_status::RUNNING.into(),
            message: String::new(),
            started_at: at,
            finished_at: None,
        };
        compute_log::task_start(&db, &task("t1", 1)).await.unwrap();
        compute_log::task_start(&db, &task("t2", 2)).await.unwrap();
        compute_log::task_finish(&db, "t1", task_status::SUCCEEDED, "", 5).await.unwrap();
        compute_log::task_finish(&db, "t1", task_status::FAILED, "late", 6).await.unwrap();
        assert_eq!(compute_log::fail_unfinished(&db, 9).await.unwrap(), 1);
        let tasks = compute_log::tasks(&db, &TaskFilter { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(
            tasks.iter().map(|t| (t.id.as_str(), t.status.as_str(), t.finished_at)).collect::<Vec<_>>(),
            [("t2", "failed", Some(9)), ("t1", "succeeded", Some(5))]
        );
        let f = TaskFilter {
            status: Some(task_status::SUCCEEDED.into()),
            vm_uuid: Some("v".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(compute_log::tasks(&db, &f).await.unwrap().len(), 1);
    }
}
