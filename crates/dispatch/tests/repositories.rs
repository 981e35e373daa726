//! The dispatch repositories (tasks, instance flags) and file records against both engines: the same migrations and queries must behave
//! the same on SQLite and PostgreSQL.

use gantry_store::settings;
use gantry_testkit::{BACKENDS, ScratchDb};

fn task(id: &str, user: i64, seq: i64) -> gantry_dispatch::repo::tasks::TaskRecord {
    use gantry_dispatch::repo::tasks::TaskStatus;
    gantry_dispatch::repo::tasks::TaskRecord {
        id: id.into(),
        user_id: user,
        kind: "workflow".into(),
        status: TaskStatus::Pending,
        priority: 0,
        seq,
        graph: "{}".into(),
        params: "{}".into(),
        inputs: "[]".into(),
        models: "[]".into(),
        total_steps: 20,
        instance_id: None,
        prompt_id: None,
        attempts: 0,
        progress: 0,
        error: None,
        failure: None,
        result: None,
        created_at: seq,
        updated_at: seq,
        started_at: None,
        finished_at: None,
        meta: None,
        archived_at: None,
    }
}

#[tokio::test]
async fn task_states_change_only_along_the_lifecycle() {
    use gantry_core::events::TaskFailure;
    use gantry_dispatch::repo::tasks::{self, TaskFilter, TaskStatus};
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            tasks::insert(&db, &task(id, 1001 + (i as i64 % 2), i as i64), None).await.unwrap();
        }
        assert!(
            tasks::claim(&db, "a", "127.0.0.1:8188", "p-a", 10)
                .await
                .unwrap()
                .is_some_and(|c| c.graph.starts_with('{'))
        );
        assert!(
            tasks::claim(&db, "a", "127.0.0.1:8189", "p-x", 11).await.unwrap().is_none(),
            "{engine:?}: claimed twice"
        );
        assert!(tasks::mark_running(&db, "a", 12).await.unwrap());
        tasks::set_progress(&db, "a", 40, 13).await.unwrap();
        assert!(tasks::requeue(&db, "a", 14).await.unwrap());
        let a = tasks::by_id(&db, "a").await.unwrap().unwrap();
        assert_eq!((a.status, a.attempts, a.instance_id, a.progress), (TaskStatus::Pending, 1, None, 0));

        assert!(tasks::claim(&db, "a", "127.0.0.1:8189", "p-a2", 15).await.unwrap().is_some());
        assert!(tasks::complete(&db, "a", r#"{"files":[]}"#, 20).await.unwrap());
        assert!(!tasks::cancel(&db, "a", 0, 21).await.unwrap(), "{engine:?}: completed tasks stay completed");
        assert!(!tasks::fail(&db, "a", "x", TaskFailure::ExecutionError, 0, 21).await.unwrap());
        let a = tasks::by_id(&db, "a").await.unwrap().unwrap();
        assert_eq!((a.status, a.progress, a.attempts, a.started_at), (TaskStatus::Completed, 100, 2, Some(20)));

        assert!(tasks::cancel(&db, "b", 0, 22).await.unwrap());
        assert!(tasks::claim(&db, "b", "i", "p", 23).await.unwrap().is_none(), "cancelled tasks are never dispatched");
        assert!(tasks::fail(&db, "c", "no instance has model x", TaskFailure::NoInstance, 0, 24).await.unwrap());
        let c = tasks::by_id(&db, "c").await.unwrap().unwrap();
        assert_eq!((c.status, c.failure), (TaskStatus::Failed, Some(TaskFailure::NoInstance)), "{engine:?}");

        let mine = TaskFilter { user_id: Some(1001), limit: 10, ..TaskFilter::default() };
        let (list, total) = tasks::list(&db, &mine).await.unwrap();
        assert_eq!((total, list[0].id.as_str()), (2, "c"), "{engine:?}: newest first");
        let failed = TaskFilter {
            statuses: vec![TaskStatus::Failed, TaskStatus::Cancelled],
            limit: 10,
            ascending: true,
            ..TaskFilter::default()
        };
        let (list, total) = tasks::list(&db, &failed).await.unwrap();
        assert_eq!((total, list[0].id.as_str()), (2, "b"));
        let ids: Vec<String> = ["a", "b", "unknown"].map(String::from).to_vec();
        let mut states = tasks::states_of(&db, &ids).await.unwrap();
        states.sort();
        assert_eq!(
            states,
            vec![("a".to_owned(), TaskStatus::Completed), ("b".to_owned(), TaskStatus::Cancelled)],
            "{engine:?}"
        );
        let last = gantry_store::IDS_PER_QUERY + 2;
        let many: Vec<String> = (0..=last).map(|i| if i == last { "c".into() } else { format!("x{i}") }).collect();
        assert_eq!(
            tasks::states_of(&db, &many).await.unwrap(),
            vec![("c".to_owned(), TaskStatus::Failed)],
            "{engine:?}"
        );
        let mut counts = tasks::count_finished_between(&db, 0, 25).await.unwrap();
        counts.sort_by_key(|(status, _)| status.as_str());
        assert_eq!(counts, vec![(TaskStatus::Cancelled, 1), (TaskStatus::Completed, 1), (TaskStatus::Failed, 1)]);
        // `from` is in, `to` is out: b ended at 22, c at 24.
        let mut counts = tasks::count_finished_between(&db, 21, 24).await.unwrap();
        counts.sort_by_key(|(status, _)| status.as_str());
        assert_eq!(counts, vec![(TaskStatus::Cancelled, 1)], "{engine:?}");
        assert_eq!(tasks::count_unfinished(&db).await.unwrap(), vec![], "{engine:?}");
    }
}

#[tokio::test]
async fn file_records_and_instance_flags_round_trip() {
    use gantry_dispatch::repo::instances;
    use gantry_files::repo::files::{self, FileRecord};
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let record = FileRecord {
            id: "f1".into(),
            user_id: 1001,
            kind: "upload".into(),
            filename: "cat.png".into(),
            content_type: "image/png".into(),
            size: 10,
            sha256: "ab".into(),
            width: Some(64),
            height: None,
            task_id: None,
            created_at: 5,
        };
        files::insert(&db, &record).await.unwrap();
        assert_eq!(files::by_id(&db, "f1").await.unwrap(), Some(record.clone()), "{engine:?}");
        assert_eq!(files::list_for_user(&db, 1001, "upload", 10, 0).await.unwrap(), (vec![record], 1));
        assert_eq!(files::list_for_user(&db, 1002, "upload", 10, 0).await.unwrap().1, 0);
        assert!(files::delete(&db, "f1").await.unwrap());
        assert!(!files::delete(&db, "f1").await.unwrap());

        instances::set_enabled(&db, "127.0.0.1:8001", false).await.unwrap();
        instances::set_enabled(&db, "127.0.0.1:8001", true).await.unwrap();
        instances::set_enabled(&db, "127.0.0.1:8002", false).await.unwrap();
        let mut flags = instances::flags(&db).await.unwrap();
        flags.sort();
        assert_eq!(flags, vec![("127.0.0.1:8001".into(), true), ("127.0.0.1:8002".into(), false)], "{engine:?}");
        settings::put(&db, "k", "1").await.unwrap();
        settings::put(&db, "k", "2").await.unwrap();
        assert_eq!(settings::get(&db, "k").await.unwrap().as_deref(), Some("2"));
    }
}

#[tokio::test]
async fn every_page_of_a_task_list_is_the_same_slice_whichever_end_it_is_read_from() {
    use gantry_dispatch::repo::tasks::{self, TaskFilter, TaskStatus};
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let mut all = Vec::new();
        for i in 0..23_i64 {
            let mut t = task(&format!("t{i:02}"), 1001 + i64::from(i % 4 == 0), 100 + i);
            if i % 3 == 0 {
                t.status = TaskStatus::Cancelled;
            }
            tasks::insert(&db, &t, None).await.unwrap();
            all.push(t);
        }
        for (user, statuses) in [(None, vec![]), (Some(1001), vec![]), (Some(1001), vec![TaskStatus::Pending])] {
            let mut expected: Vec<&str> = all
                .iter()
                .filter(|t| {
                    user.is_none_or(|u| t.user_id == u) && (statuses.is_empty() || statuses.contains(&t.status))
                })
                .map(|t| t.id.as_str())
                .collect();
            for ascending in [true, false] {
                if !ascending {
                    expected.reverse();
                }
                for offset in 0..=expected.len() as i64 + 1 {
                    let filter = TaskFilter {
                        user_id: user,
                        statuses: statuses.clone(),
                        limit: 4,
                        offset,
                        ascending,
                        ..TaskFilter::default()
                    };
                    let (page, total) = tasks::list(&db, &filter).await.unwrap();
                    let ids: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
                    let from = (offset as usize).min(expected.len());
                    let want = &expected[from..(from + 4).min(expected.len())];
                    assert_eq!((ids.as_slice(), total), (want, expected.len() as i64), "{engine:?} {filter:?}");
                }
            }
        }
    }
}

/// The overview's kept counts of finished tasks match a full count as time moves on: what
/// ended long ago stays counted, and the last hour lets go of what is older.
#[tokio::test]
async fn finished_counts_stay_right_as_time_moves_on() {
    use gantry_dispatch::finished_counts::{Counts, FinishedCounts};
    use gantry_dispatch::repo::tasks;
    const HOUR: i64 = 3_600_000;
    for engine in BACKENDS {
        let (_scratch, db) = ScratchDb::migrated(engine).await;
        let mut kept = FinishedCounts::default();
        let t0 = 10 * HOUR;
        // Each task: when it ends, whether it is cancelled, when the overview is read after.
        let ends = [(t0, false, t0 + 1_000), (t0 + 5_000, true, t0 + 6_000), (t0 + 20_000, false, t0 + 30_000)];
        let later = [(t0 + HOUR, false, t0 + HOUR + 1), (t0 + HOUR + 30_000, false, t0 + HOUR + 40_000)];
        let expected = [(1, 0, 1), (1, 1, 1), (2, 1, 2), (3, 1, 2), (4, 1, 2)];
        for (i, ((at, cancelled, read_at), (completed, cancelled_n, last_hour))) in
            ends.into_iter().chain(later).zip(expected).enumerate()
        {
            let id = format!("t{i}");
            tasks::insert(&db, &task(&id, 1001, i as i64), None).await.unwrap();
            if cancelled {
                assert!(tasks::cancel(&db, &id, 0, at).await.unwrap());
            } else {
                assert!(tasks::claim(&db, &id, "i", &format!("p{i}"), at).await.unwrap().is_some());
                assert!(tasks::complete(&db, &id, "{}", at).await.unwrap());
            }
            let want = (Counts { completed, failed: 0, cancelled: cancelled_n }, last_hour);
            assert_eq!(kept.read(&db, read_at).await.unwrap(), want, "{engine:?}: read at {read_at} (kept)");
            let fresh = FinishedCounts::default().read(&db, read_at).await.unwrap();
            assert_eq!(fresh, want, "{engine:?}: read at {read_at} (from scratch)");
        }
    }
}
