//! Workflow automation repositories (folders, workflows, executions, logs) against both engines.

use gantry_automation::repo::executions::{self, ExecutionFilter, ExecutionRecord, Finish, LogFilter, NewLog};
use gantry_automation::repo::folders::{self, DeleteMode, FolderChange, FolderScope, NewFolder, Refusal};
use gantry_automation::repo::workflows::{self, WorkflowChange, WorkflowFilter, WorkflowRecord, WorkflowSort};
use gantry_store::{Db, StoreError};
use gantry_testkit::{BACKENDS, ScratchDb};

const ALICE: i64 = 1001;
const BOB: i64 = 1002;

async fn folder(db: &Db, user: i64, id: &str, name: &str, parent: Option<&str>) -> folders::FolderRecord {
    let new = NewFolder { id, user_id: user, name, parent_id: parent, position: 0, now_ms: 10 };
    folders::create(db, &new).await.expect("create folder").expect("not refused")
}

fn workflow(user: i64, id: &str, name: &str, folder: Option<&str>) -> WorkflowRecord {
    WorkflowRecord {
        id: id.into(),
        user_id: user,
        folder_id: folder.map(str::to_owned),
        name: name.into(),
        description: String::new(),
        is_enabled: true,
        is_favorite: false,
        position: 0,
        tags: Vec::new(),
        version: 1,
        steps: "[]".into(),
        trigger_config: r#"{"type":"manual"}"#.into(),
        trigger_type: Some("manual".into()),
        max_execution_time: 60,
        metadata: "{}".into(),
        webhook_secret_hash: None,
        created_at: 10,
        modified_at: 10,
    }
}

async fn add_workflow(db: &Db, w: WorkflowRecord) -> WorkflowRecord {
    workflows::create(db, &w).await.expect("create workflow").expect("not refused")
}

fn execution(user: i64, id: &str, workflow: &str, started_at: i64) -> ExecutionRecord {
    ExecutionRecord {
        id: id.into(),
        user_id: user,
        workflow_id: workflow.into(),
        workflow_name: format!("name-{workflow}"),
        status: executions::status::RUNNING.into(),
        triggered_by: "manual".into(),
        current_step_index: 0,
        total_steps: 3,
        current_step: None,
        outputs: "{}".into(),
        variables: "{}".into(),
        error: None,
        started_at,
        completed_at: None,
    }
}

fn end<'a>(status: &'a str, at: i64) -> Finish<'a> {
    Finish { status, error: None, outputs: None, variables: None, completed_at: at }
}

#[tokio::test]
async fn folders_nest_with_unique_sibling_names_and_no_cycles() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let a = folder(&db, ALICE, "a", "A", None).await;
        assert_eq!((a.parent_id, a.created_at, a.modified_at), (None, 10, 10));
        folder(&db, ALICE, "b", "B", Some("a")).await;
        folder(&db, ALICE, "c", "C", Some("b")).await;
        // Same name at the root collides (NULL parent), elsewhere it does not; other users are separate.
        let dup = NewFolder { id: "x", user_id: ALICE, name: "A", parent_id: None, position: 0, now_ms: 1 };
        assert!(matches!(folders::create(&db, &dup).await, Err(StoreError::Conflict(_))), "{engine:?}");
        folder(&db, ALICE, "a2", "A", Some("a")).await;
        folder(&db, BOB, "bob-a", "A", None).await;
        let orphan = NewFolder { id: "y", user_id: ALICE, name: "Y", parent_id: Some("bob-a"), position: 0, now_ms: 1 };
        assert_eq!(folders::create(&db, &orphan).await.unwrap(), Err(Refusal::FolderMissing));

        add_workflow(&db, workflow(ALICE, "w1", "one", Some("a"))).await;
        let all = folders::list(&db, ALICE, &FolderScope::All).await.unwrap();
        assert_eq!(all.len(), 4, "{engine:?}");
        let roots = folders::list(&db, ALICE, &FolderScope::Root).await.unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!((roots[0].workflow_count, roots[0].subfolder_count), (1, 2), "{engine:?}");
        let kids = folders::list(&db, ALICE, &FolderScope::Children("a".into())).await.unwrap();
        let names: Vec<_> = kids.iter().map(|f| f.folder.name.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
        assert!(folders::get(&db, BOB, "a").await.unwrap().is_none(), "{engine:?}: not Bob's");
        assert_eq!(folders::count(&db, ALICE).await.unwrap(), 4);

        // Cycles: under itself, under a descendant.
        let under = |p: &str| FolderChange { parent_id: Some(Some(p.to_owned())), ..FolderChange::default() };
        assert_eq!(folders::update(&db, ALICE, "a", &under("a"), 20).await.unwrap(), Err(Refusal::Cycle));
        assert_eq!(folders::update(&db, ALICE, "a", &under("c"), 20).await.unwrap(), Err(Refusal::Cycle));
        assert_eq!(folders::update(&db, ALICE, "a", &under("nope"), 20).await.unwrap(), Err(Refusal::FolderMissing));
        assert_eq!(folders::update(&db, BOB, "a", &FolderChange::default(), 20).await.unwrap(), Err(Refusal::Missing));
        // Moving c to the root is fine; renaming it to a taken root name is a conflict.
        let to_root = FolderChange { parent_id: Some(None), position: Some(4), ..FolderChange::default() };
        let c = folders::update(&db, ALICE, "c", &to_root, 30).await.unwrap().unwrap();
        assert_eq!((c.parent_id, c.position, c.modified_at), (None, 4, 30));
        let rename = FolderChange { name: Some("A".into()), ..FolderChange::default() };
        assert!(matches!(folders::update(&db, ALICE, "c", &rename, 31).await, Err(StoreError::Conflict(_))));
        let rename = FolderChange { name: Some("Cee".into()), ..FolderChange::default() };
        assert_eq!(folders::update(&db, ALICE, "c", &rename, 32).await.unwrap().unwrap().name, "Cee");
    }
}

#[tokio::test]
async fn folder_deletion_refuses_deletes_or_moves_contents() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        folder(&db, ALICE, "a", "A", None).await;
        folder(&db, ALICE, "b", "B", Some("a")).await;
        folder(&db, ALICE, "t", "T", None).await;
        add_workflow(&db, workflow(ALICE, "w1", "one", Some("a"))).await;
        add_workflow(&db, workflow(ALICE, "w2", "two", Some("b"))).await;

        let refuse = DeleteMode::RefuseIfNotEmpty;
        assert_eq!(folders::delete(&db, ALICE, "a", &refuse, 5).await.unwrap(), Err(Refusal::NotEmpty));
        assert_eq!(folders::delete(&db, BOB, "a", &refuse, 5).await.unwrap(), Err(Refusal::Missing));
        let into_child = DeleteMode::MoveContentsTo(Some("b".into()));
        assert_eq!(folders::delete(&db, ALICE, "a", &into_child, 5).await.unwrap(), Err(Refusal::Cycle));

        // Move a's workflow and subfolder into t.
        let moved = folders::delete(&db, ALICE, "a", &DeleteMode::MoveContentsTo(Some("t".into())), 5).await.unwrap();
        let moved = moved.unwrap();
        assert_eq!((moved.folders_deleted, moved.workflows_moved, moved.workflows_deleted), (1, 1, 0), "{engine:?}");
        assert_eq!(workflows::get(&db, ALICE, "w1").await.unwrap().unwrap().folder_id.as_deref(), Some("t"));
        assert_eq!(folders::get(&db, ALICE, "b").await.unwrap().unwrap().folder.parent_id.as_deref(), Some("t"));

        // Delete t with everything below it.
        let gone = folders::delete(&db, ALICE, "t", &DeleteMode::DeleteContents, 6).await.unwrap().unwrap();
        assert_eq!((gone.folders_deleted, gone.workflows_deleted), (2, 2), "{engine:?}");
        assert_eq!(folders::count(&db, ALICE).await.unwrap(), 0);
        assert_eq!(workflows::counts(&db, ALICE).await.unwrap(), (0, 0));

        folder(&db, ALICE, "e", "E", None).await;
        assert_eq!(folders::delete(&db, ALICE, "e", &refuse, 7).await.unwrap().unwrap().folders_deleted, 1);

        // Moving into a folder with a same-named workflow is a conflict and changes nothing.
        folder(&db, ALICE, "p", "P", None).await;
        add_workflow(&db, workflow(ALICE, "w3", "same", Some("p"))).await;
        add_workflow(&db, workflow(ALICE, "w4", "same", None)).await;
        let to_root = DeleteMode::MoveContentsTo(None);
        assert!(matches!(folders::delete(&db, ALICE, "p", &to_root, 8).await, Err(StoreError::Conflict(_))));
        assert!(folders::get(&db, ALICE, "p").await.unwrap().is_some(), "{engine:?}");
    }
}

#[tokio::test]
async fn workflows_crud_and_per_folder_unique_names() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        folder(&db, ALICE, "f", "F", None).await;
        let mut w = workflow(ALICE, "w1", "Auto Reply", None);
        w.tags = vec!["social".into(), "auto".into(), "social".into()];
        w.webhook_secret_hash = Some("hash1".into());
        let stored = add_workflow(&db, w).await;
        assert_eq!(stored.tags, ["social", "auto"], "{engine:?}");
        assert!(stored.is_enabled && !stored.is_favorite);

        assert!(matches!(
            workflows::create(&db, &workflow(ALICE, "w2", "Auto Reply", None)).await,
            Err(StoreError::Conflict(_))
        ));
        add_workflow(&db, workflow(ALICE, "w2", "Auto Reply", Some("f"))).await;
        add_workflow(&db, workflow(BOB, "bw", "Auto Reply", None)).await;
        assert_eq!(
            workflows::create(&db, &workflow(ALICE, "w3", "x", Some("nope"))).await.unwrap(),
            Err(Refusal::FolderMissing)
        );
        assert!(workflows::get(&db, BOB, "w1").await.unwrap().is_none(), "{engine:?}");

        let change = WorkflowChange {
            description: Some("replies".into()),
            is_favorite: Some(true),
            tags: Some(vec!["work".into()]),
            trigger: Some((r#"{"type":"webhook"}"#.into(), Some("webhook".into()))),
            webhook_secret_hash: Some(None),
            ..WorkflowChange::default()
        };
        let updated = workflows::update(&db, ALICE, "w1", &change, 50).await.unwrap().unwrap();
        assert_eq!((updated.version, updated.modified_at, updated.is_favorite), (2, 50, true));
        assert_eq!((updated.tags, updated.trigger_type.as_deref()), (vec!["work".to_owned()], Some("webhook")));
        assert_eq!((updated.name.as_str(), updated.webhook_secret_hash), ("Auto Reply", None));
        assert_eq!(workflows::update(&db, BOB, "w1", &change, 50).await.unwrap(), Err(Refusal::Missing));
        // Moving into f collides with w2's name.
        assert!(matches!(
            workflows::move_to_folder(&db, ALICE, "w1", Some("f"), 60).await,
            Err(StoreError::Conflict(_))
        ));
        let rename = WorkflowChange { name: Some("Other".into()), ..WorkflowChange::default() };
        workflows::update(&db, ALICE, "w1", &rename, 61).await.unwrap().unwrap();
        let moved = workflows::move_to_folder(&db, ALICE, "w1", Some("f"), 62).await.unwrap().unwrap();
        assert_eq!(moved.folder_id.as_deref(), Some("f"));
        assert_eq!(
            workflows::move_to_folder(&db, ALICE, "w1", Some("nope"), 63).await.unwrap(),
            Err(Refusal::FolderMissing)
        );

        assert!(workflows::set_enabled(&db, ALICE, "w1", false, 70).await.unwrap());
        assert!(!workflows::set_enabled(&db, BOB, "w1", false, 70).await.unwrap());
        assert!(!workflows::get(&db, ALICE, "w1").await.unwrap().unwrap().is_enabled);
        assert_eq!(workflows::counts(&db, ALICE).await.unwrap(), (2, 1), "{engine:?}");

        assert!(!workflows::delete(&db, BOB, "w1").await.unwrap());
        assert!(workflows::delete(&db, ALICE, "w1").await.unwrap());
        assert!(workflows::get(&db, ALICE, "w1").await.unwrap().is_none());
        // Its tags went with it: a new workflow with the same id starts clean.
        let again = add_workflow(&db, workflow(ALICE, "w1", "fresh", None)).await;
        assert!(again.tags.is_empty(), "{engine:?}");
    }
}

#[tokio::test]
async fn workflow_lists_filter_sort_and_page() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        folder(&db, ALICE, "f", "F", None).await;
        for (i, (id, name, desc, tags)) in [
            ("w1", "alpha", "Sends 100% of mail", vec!["a"]),
            ("w2", "bravo", "nothing", vec!["b", "c"]),
            ("w3", "charlie", "Mail_bot", vec!["c"]),
            ("w4", "delta", "", vec![]),
        ]
        .into_iter()
        .enumerate()
        {
            let mut w = workflow(ALICE, id, name, if id == "w4" { Some("f") } else { None });
            w.description = desc.into();
            w.tags = tags.into_iter().map(str::to_owned).collect();
            w.position = 10 - i as i64;
            w.modified_at = 100 + i as i64;
            w.is_enabled = id != "w2";
            add_workflow(&db, w).await;
        }
        add_workflow(&db, workflow(BOB, "bw", "alpha", None)).await;

        let ids = |v: &[WorkflowRecord]| v.iter().map(|w| w.id.clone()).collect::<Vec<_>>();
        let (all, total) = workflows::list(&db, ALICE, &WorkflowFilter::default()).await.unwrap();
        assert_eq!((ids(&all), total), (vec!["w4".into(), "w3".into(), "w2".into(), "w1".into()], 4), "{engine:?}");

        let by_name =
            WorkflowFilter { sort: WorkflowSort::Name, descending: true, limit: 2, offset: 1, ..Default::default() };
        let (page, total) = workflows::list(&db, ALICE, &by_name).await.unwrap();
        assert_eq!((ids(&page), total), (vec!["w3".into(), "w2".into()], 4), "{engine:?}");

        let recent = WorkflowFilter { sort: WorkflowSort::ModifiedAt, limit: 1, ..Default::default() };
        assert_eq!(ids(&workflows::list(&db, ALICE, &recent).await.unwrap().0), ["w1"]);

        let enabled = WorkflowFilter { enabled_only: true, ..Default::default() };
        assert_eq!(workflows::list(&db, ALICE, &enabled).await.unwrap().1, 3);

        let in_folder = WorkflowFilter { folder_id: Some("f".into()), ..Default::default() };
        assert_eq!(ids(&workflows::list(&db, ALICE, &in_folder).await.unwrap().0), ["w4"]);

        let search = WorkflowFilter { search: Some("MAIL".into()), sort: WorkflowSort::Name, ..Default::default() };
        assert_eq!(ids(&workflows::list(&db, ALICE, &search).await.unwrap().0), ["w1", "w3"], "{engine:?}");
        // LIKE wildcards in the search are literal.
        let percent = WorkflowFilter { search: Some("0%".into()), ..Default::default() };
        assert_eq!(ids(&workflows::list(&db, ALICE, &percent).await.unwrap().0), ["w1"], "{engine:?}");
        let underscore = WorkflowFilter { search: Some("l_b".into()), ..Default::default() };
        assert_eq!(ids(&workflows::list(&db, ALICE, &underscore).await.unwrap().0), ["w3"], "{engine:?}");

        let tagged =
            WorkflowFilter { tags: vec!["c".into(), "a".into()], sort: WorkflowSort::Name, ..Default::default() };
        let (rows, total) = workflows::list(&db, ALICE, &tagged).await.unwrap();
        assert_eq!((ids(&rows), total), (vec!["w1".into(), "w2".into(), "w3".into()], 3), "{engine:?}");
        assert_eq!(rows[1].tags, ["b", "c"]);

        let combined = WorkflowFilter {
            tags: vec!["c".into()],
            enabled_only: true,
            search: Some("bot".into()),
            ..Default::default()
        };
        assert_eq!(ids(&workflows::list(&db, ALICE, &combined).await.unwrap().0), ["w3"]);
    }
}

#[tokio::test]
async fn workflows_by_webhook_secret_and_trigger_type() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let mut hooked = workflow(ALICE, "w1", "hook", None);
        hooked.trigger_type = Some("webhook".into());
        hooked.webhook_secret_hash = Some("h1".into());
        hooked.tags = vec!["t".into()];
        add_workflow(&db, hooked).await;
        let mut off = workflow(ALICE, "w2", "off", None);
        off.trigger_type = Some("webhook".into());
        off.is_enabled = false;
        add_workflow(&db, off).await;
        let mut bobs = workflow(BOB, "w3", "bob", None);
        bobs.trigger_type = Some("webhook".into());
        add_workflow(&db, bobs).await;
        add_workflow(&db, workflow(ALICE, "w4", "manual", None)).await;

        let found = workflows::by_webhook_secret_hash(&db, "h1").await.unwrap().unwrap();
        assert_eq!((found.id.as_str(), found.tags.len()), ("w1", 1), "{engine:?}");
        assert!(workflows::by_webhook_secret_hash(&db, "h2").await.unwrap().is_none());
        let mut dup = workflow(BOB, "w5", "dup", None);
        dup.webhook_secret_hash = Some("h1".into());
        assert!(matches!(workflows::create(&db, &dup).await, Err(StoreError::Conflict(_))), "{engine:?}");

        let everyone = workflows::enabled_with_trigger(&db, None, "webhook").await.unwrap();
        assert_eq!(everyone.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["w1", "w3"], "{engine:?}");
        let alices = workflows::enabled_with_trigger(&db, Some(ALICE), "webhook").await.unwrap();
        assert_eq!(alices.len(), 1);
        assert_eq!(workflows::enabled_with_trigger(&db, Some(BOB), "manual").await.unwrap().len(), 0);
    }
}

#[tokio::test]
async fn executions_progress_and_finish_exactly_once() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        executions::insert(&db, &execution(ALICE, "e1", "w1", 1_000)).await.unwrap();
        assert!(matches!(
            executions::insert(&db, &execution(ALICE, "e1", "w1", 1_000)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(executions::get(&db, BOB, "e1").await.unwrap().is_none(), "{engine:?}");

        let step = r#"{"id":"s2"}"#;
        assert!(
            executions::update_progress(&db, ALICE, "e1", 2, Some(step), r#"{"o":1}"#, r#"{"v":2}"#).await.unwrap()
        );
        assert!(!executions::update_progress(&db, BOB, "e1", 2, None, "{}", "{}").await.unwrap());
        let live = executions::get(&db, ALICE, "e1").await.unwrap().unwrap();
        assert_eq!((live.current_step_index, live.current_step.as_deref()), (2, Some(step)));
        assert_eq!(live.duration(), None);

        let failed =
            Finish { error: Some("boom"), outputs: Some(r#"{"o":2}"#), ..end(executions::status::FAILED, 1_500) };
        assert!(executions::finish(&db, ALICE, "e1", &failed).await.unwrap());
        assert!(!executions::finish(&db, ALICE, "e1", &end(executions::status::COMPLETED, 1_600)).await.unwrap());
        assert!(!executions::update_progress(&db, ALICE, "e1", 3, None, "{}", "{}").await.unwrap(), "{engine:?}");
        let done = executions::get(&db, ALICE, "e1").await.unwrap().unwrap();
        assert_eq!((done.status.as_str(), done.error.as_deref(), done.duration()), ("failed", Some("boom"), Some(500)));
        assert_eq!(
            (done.outputs.as_str(), done.variables.as_str(), done.current_step),
            (r#"{"o":2}"#, r#"{"v":2}"#, None)
        );

        // Restart: every running execution (any user) fails.
        executions::insert(&db, &execution(ALICE, "e2", "w1", 2_000)).await.unwrap();
        executions::insert(&db, &execution(BOB, "e3", "w9", 2_000)).await.unwrap();
        assert_eq!(executions::fail_all_running(&db, "restarted", 3_000).await.unwrap(), 2, "{engine:?}");
        let e3 = executions::get(&db, BOB, "e3").await.unwrap().unwrap();
        assert_eq!(
            (e3.status.as_str(), e3.error.as_deref(), e3.completed_at),
            ("failed", Some("restarted"), Some(3_000))
        );
        assert_eq!(executions::fail_all_running(&db, "again", 4_000).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn execution_history_lists_deletes_and_stats() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let plan = [
            ("e1", "w1", 1_000, Some(("completed", 1_100))),
            ("e2", "w1", 2_000, Some(("failed", 2_300))),
            ("e3", "w2", 3_000, Some(("completed", 3_600))),
            ("e4", "w1", 4_000, Some(("timeout", 4_200))),
            ("e5", "w2", 5_000, None),
        ];
        for (id, wf, started, ending) in plan {
            executions::insert(&db, &execution(ALICE, id, wf, started)).await.unwrap();
            if let Some((status, at)) = ending {
                assert!(executions::finish(&db, ALICE, id, &end(status, at)).await.unwrap());
            }
        }
        executions::insert(&db, &execution(BOB, "b1", "w1", 1_500)).await.unwrap();

        let ids = |v: &[ExecutionRecord]| v.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        let (all, total) = executions::list(&db, ALICE, &ExecutionFilter::default()).await.unwrap();
        assert_eq!((ids(&all), total), (vec!["e5".into(), "e4".into(), "e3".into(), "e2".into(), "e1".into()], 5));
        let filter = ExecutionFilter {
            workflow_id: Some("w1".into()),
            start_date: Some(1_500),
            end_date: Some(4_000),
            limit: 1,
            offset: 1,
            ..Default::default()
        };
        let (page, total) = executions::list(&db, ALICE, &filter).await.unwrap();
        assert_eq!((ids(&page), total), (vec!["e2".into()], 2), "{engine:?}");
        let completed = ExecutionFilter { status: Some("completed".into()), ..Default::default() };
        assert_eq!(executions::list(&db, ALICE, &completed).await.unwrap().1, 2);

        let stats = executions::stats(&db, ALICE, None).await.unwrap();
        assert_eq!((stats.total, stats.successful, stats.failed), (5, 2, 2), "{engine:?}");
        assert_eq!(stats.average_duration_ms, Some((100 + 300 + 600 + 200) / 4));
        let recent = executions::stats(&db, ALICE, Some(4_500)).await.unwrap();
        assert_eq!((recent.total, recent.average_duration_ms), (1, None), "{engine:?}");
        let top = executions::top_workflows(&db, ALICE, None, 1).await.unwrap();
        assert_eq!(
            (top[0].workflow_id.as_str(), top[0].workflow_name.as_str(), top[0].execution_count),
            ("w1", "name-w1", 3)
        );
        assert_eq!(executions::top_workflows(&db, ALICE, Some(2_500), 5).await.unwrap().len(), 2);

        assert_eq!(executions::delete(&db, BOB, "e1").await.unwrap(), 0, "{engine:?}");
        assert_eq!(executions::delete(&db, ALICE, "e1").await.unwrap(), 1);
        assert_eq!(executions::delete_older_than(&db, ALICE, 3_500).await.unwrap(), 2, "{engine:?}");
        // e5 is still running: bulk deletes leave it.
        assert_eq!(executions::delete_for_workflow(&db, ALICE, "w2").await.unwrap(), 0);
        assert_eq!(executions::delete_for_workflow(&db, ALICE, "w1").await.unwrap(), 1);
        assert_eq!(ids(&executions::list(&db, ALICE, &ExecutionFilter::default()).await.unwrap().0), ["e5"]);
        assert!(executions::get(&db, BOB, "b1").await.unwrap().is_some(), "{engine:?}");
    }
}

#[tokio::test]
async fn execution_logs_append_in_order_filter_and_die_with_their_execution() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        executions::insert(&db, &execution(ALICE, "e1", "w1", 1_000)).await.unwrap();
        let line = |t: i64, level: &str, step: Option<i64>| NewLog {
            timestamp: t,
            level: level.into(),
            step_index: step,
            module_id: step.map(|s| format!("m{s}")),
            message: format!("line {t}"),
            details: Some(r#"{"k":1}"#.into()),
        };
        let first = [line(1, "info", Some(0)), line(2, "info", Some(0)), line(3, "error", Some(1))];
        assert!(executions::append_logs(&db, ALICE, "e1", &first).await.unwrap());
        assert!(executions::append_logs(&db, ALICE, "e1", &[line(4, "warning", None)]).await.unwrap());
        assert!(!executions::append_logs(&db, BOB, "e1", &[line(5, "info", None)]).await.unwrap(), "{engine:?}");
        assert!(executions::append_logs(&db, ALICE, "e1", &[]).await.unwrap());

        let (all, total) = executions::logs(&db, ALICE, "e1", &LogFilter::default()).await.unwrap();
        assert_eq!(total, 4, "{engine:?}");
        assert_eq!(all.iter().map(|l| (l.seq, l.timestamp)).collect::<Vec<_>>(), [(1, 1), (2, 2), (3, 3), (4, 4)]);
        assert_eq!((all[3].step_index, all[3].module_id.as_deref()), (None, None));
        assert_eq!(all[0].details.as_deref(), Some(r#"{"k":1}"#));
        let step0 = LogFilter { step_index: Some(0), limit: 1, offset: 1, ..Default::default() };
        let (page, total) = executions::logs(&db, ALICE, "e1", &step0).await.unwrap();
        assert_eq!((page.len(), page[0].seq, total), (1, 2, 2), "{engine:?}");
        let errors = LogFilter { level: Some("error".into()), ..Default::default() };
        assert_eq!(executions::logs(&db, ALICE, "e1", &errors).await.unwrap().0[0].message, "line 3");
        assert_eq!(executions::logs(&db, BOB, "e1", &LogFilter::default()).await.unwrap().1, 0);

        assert_eq!(executions::delete(&db, ALICE, "e1").await.unwrap(), 1);
        // A new execution with the same id starts with no logs.
        executions::insert(&db, &execution(ALICE, "e1", "w1", 9_000)).await.unwrap();
        assert_eq!(executions::logs(&db, ALICE, "e1", &LogFilter::default()).await.unwrap().1, 0, "{engine:?}");
    }
}

#[tokio::test]
async fn batches_act_in_one_transaction_with_per_id_results() {
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        folder(&db, ALICE, "f", "F", None).await;
        add_workflow(&db, workflow(ALICE, "a", "same", None)).await;
        add_workflow(&db, workflow(ALICE, "b", "other", None)).await;
        add_workflow(&db, workflow(ALICE, "c", "same", Some("f"))).await;
        add_workflow(&db, workflow(BOB, "z", "bobs", None)).await;
        let ids: Vec<String> = ["a", "b", "z", "a"].iter().map(|s| (*s).to_owned()).collect();

        let out = workflows::batch(&db, ALICE, &ids, &workflows::BatchAction::Move(Some("f".into())), 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.succeeded, ["b"], "{engine:?}");
        let failed: Vec<&str> = out.failed.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(failed, ["a", "z"], "a's name is taken in f; z is not Alice's");
        assert_eq!(out.skipped.len(), 1, "a repeated id is skipped");
        assert_eq!(workflows::get(&db, ALICE, "b").await.unwrap().unwrap().folder_id.as_deref(), Some("f"));

        let refused = workflows::batch(&db, ALICE, &ids, &workflows::BatchAction::Move(Some("nope".into())), 20).await;
        assert_eq!(refused.unwrap(), Err(Refusal::FolderMissing));

        let off = workflows::BatchAction::SetEnabled(false);
        let out = workflows::batch(&db, ALICE, &["a".to_owned()], &off, 30).await.unwrap().unwrap();
        assert_eq!(out.succeeded, ["a"]);
        let out = workflows::batch(&db, ALICE, &["a".to_owned()], &off, 30).await.unwrap().unwrap();
        assert_eq!(out.skipped[0].1, "already disabled");

        let all: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let out = workflows::batch(&db, ALICE, &all, &workflows::BatchAction::Delete, 40).await.unwrap().unwrap();
        assert_eq!(out.succeeded.len(), 3);
        let (left, total) = workflows::list(&db, ALICE, &WorkflowFilter::default()).await.unwrap();
        assert_eq!((left.len(), total), (0, 0));
        assert!(workflows::get(&db, BOB, "z").await.unwrap().is_some(), "Bob's workflow is untouched");
    }
}
