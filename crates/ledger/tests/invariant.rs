//! The ledger on both engines: movements, exactly-once settlement, and the invariant
//! under concurrent freezes and settlements.

use gantry_core::SystemClock;
use gantry_ledger::{Ledger, LedgerError, Settlement, kind};
use gantry_testkit::{BACKENDS, ScratchDb};
use std::sync::Arc;

async fn ledger(engine: gantry_store::Backend) -> (ScratchDb, Ledger) {
    let (scratch, db) = ScratchDb::migrated(engine).await;
    (scratch, Ledger::new(db, Arc::new(SystemClock)))
}

#[tokio::test]
async fn freeze_deduct_and_refund_move_credits_once() {
    for engine in BACKENDS {
        let (_db, ledger) = ledger(engine).await;
        ledger.recharge(7, 100, "welcome").await.unwrap();
        ledger.freeze(7, "t1", 30, "text2img").await.unwrap();
        ledger.freeze(7, "t2", 50, "text2img").await.unwrap();
        let err = ledger.freeze(7, "t3", 21, "text2img").await.unwrap_err();
        assert!(matches!(err, LedgerError::InsufficientBalance { available: 20, needed: 21 }), "{engine:?}: {err}");

        assert_eq!(ledger.settle("t1", Settlement::Deducted, "done").await.unwrap(), Some(30));
        assert_eq!(ledger.settle("t1", Settlement::Refunded, "again").await.unwrap(), None, "settled once");
        assert_eq!(ledger.settle("t2", Settlement::Refunded, "failed").await.unwrap(), Some(50));
        assert_eq!(ledger.settle("t3", Settlement::Refunded, "never charged").await.unwrap(), None);

        let balance = ledger.balance(7).await.unwrap();
        assert_eq!((balance.available, balance.frozen, balance.today_used, balance.month_used), (70, 0, 30, 30));
        let (records, total) = ledger.records(7, None, 10, 0).await.unwrap();
        assert_eq!(total, 5);
        let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, [kind::REFUND, kind::DEDUCT, kind::FREEZE, kind::FREEZE, kind::RECHARGE], "{engine:?}");
        let deduct = &records[1];
        assert_eq!(
            (deduct.amount, deduct.frozen, deduct.balance, deduct.task_id.as_deref()),
            (-30, -30, 70, Some("t1"))
        );
        let moves: Vec<(i64, i64)> = records.iter().map(|r| (r.amount, r.frozen)).collect();
        assert_eq!(moves, [(0, -50), (-30, -30), (0, 50), (0, 30), (100, 0)], "{engine:?}");
        let sum: i64 = records.iter().map(|r| r.amount).sum();
        assert_eq!(sum, balance.available + balance.frozen, "the amounts add up to the balance");
        let (only, n) = ledger.records(7, Some(kind::DEDUCT), 10, 0).await.unwrap();
        assert_eq!((n, only[0].amount), (1, -30));
        assert!(matches!(ledger.recharge(7, 0, "x").await, Err(LedgerError::InvalidAmount)));
    }
}

#[tokio::test]
async fn the_invariant_holds_under_concurrent_freezes_and_settlements() {
    for engine in BACKENDS {
        let (_db, ledger) = ledger(engine).await;
        ledger.recharge(9, 1_000, "grant").await.unwrap();
        let mut handles = Vec::new();
        for i in 0..60 {
            let ledger = ledger.clone();
            handles.push(tokio::spawn(async move {
                let task = format!("task-{i}");
                if ledger.freeze(9, &task, 37, "generate").await.is_err() {
                    return;
                }
                let how = if i % 3 == 0 { Settlement::Refunded } else { Settlement::Deducted };
                // Settle twice concurrently: only one may move credits.
                let (a, b) = tokio::join!(ledger.settle(&task, how, "end"), ledger.settle(&task, how, "end"));
                assert_eq!(a.unwrap().is_some() as u8 + b.unwrap().is_some() as u8, 1);
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let balance = ledger.balance(9).await.unwrap();
        let (granted, deducted) = ledger.totals(9).await.unwrap();
        assert!(balance.available >= 0, "{engine:?}: {balance:?}");
        assert_eq!(balance.frozen, 0);
        assert_eq!(
            balance.available + balance.frozen + deducted,
            granted,
            "{engine:?}: {balance:?} deducted {deducted}"
        );
        assert!(deducted > 0);
    }
}
