//! Usage per day: adds sum into one row per day, account and agent, across reopens and
//! replicas adding at once.

use std::sync::Arc;

use clawtalk_store::*;

use super::Db;

fn row(day: &str, account: &str, agent: &str, counts: UsageCounts) -> UsageRow {
    UsageRow {
        day: day.to_owned(),
        account_id: account.to_owned(),
        agent_id: agent.to_owned(),
        counts,
    }
}

fn tokens(prompt: u64, completion: u64) -> UsageCounts {
    UsageCounts {
        prompt_tokens: prompt,
        completion_tokens: completion,
        model_calls: 1,
        ..UsageCounts::default()
    }
}

fn calls(messages: u64, cards: u64, exempt: u64) -> UsageCounts {
    UsageCounts {
        api_messages: messages,
        api_cards: cards,
        api_exempt: exempt,
        ..UsageCounts::default()
    }
}

pub async fn usage_adds_up_per_day_account_and_agent_across_reopens(db: &dyn Db) {
    let store = db.open().await;
    store
        .usage_add(vec![
            row("2026-11-30", "bot", "main", tokens(100, 10)),
            row("2026-12-01", "bot", "main", tokens(7, 3)),
            row("2026-12-01", "bot", USAGE_NO_AGENT, calls(2, 3, 1)),
            // Nothing counted: no row.
            row("2026-12-01", "other", "main", UsageCounts::default()),
        ])
        .await
        .unwrap();
    store.close().await;

    let store = db.open().await;
    store
        .usage_add(vec![
            row("2026-12-01", "bot", "main", tokens(5, 5)),
            row("2026-12-01", "bot", USAGE_NO_AGENT, calls(1, 0, 0)),
            row("2026-12-02", "bot", "helper", tokens(1, 1)),
        ])
        .await
        .unwrap();
    store.usage_add(Vec::new()).await.unwrap();

    let rows = store.usage_since("2026-12-01").await.unwrap();
    let keys: Vec<_> = rows
        .iter()
        .map(|r| (r.day.as_str(), r.account_id.as_str(), r.agent_id.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("2026-12-01", "bot", USAGE_NO_AGENT),
            ("2026-12-01", "bot", "main"),
            ("2026-12-02", "bot", "helper"),
        ],
        "days before the first are left out; ordered by day, account, agent"
    );
    assert_eq!(rows[0].counts, calls(3, 3, 1));
    assert_eq!(rows[0].counts.quota_calls(), 6);
    assert_eq!(
        rows[1].counts,
        UsageCounts {
            prompt_tokens: 12,
            completion_tokens: 8,
            model_calls: 2,
            ..UsageCounts::default()
        }
    );
    assert_eq!(store.usage_since("2026-11-30").await.unwrap().len(), 4);
    store.close().await;
}

pub async fn replicas_adding_usage_at_once_sum_every_count(db: &dyn Db) {
    let stores = super::replicas(db, 4).await;
    let adds: Vec<_> = (0..40)
        .map(|n| {
            let store = Arc::clone(&stores[n % stores.len()]);
            tokio::spawn(async move {
                // The same two rows, in either order: one replica's rows never wait on
                // another's in a cycle.
                let mut rows = vec![
                    row("2026-12-01", "bot", "main", tokens(10, 1)),
                    row("2026-12-01", "bot", USAGE_NO_AGENT, calls(1, 2, 0)),
                ];
                if n % 2 == 1 {
                    rows.reverse();
                }
                store.usage_add(rows).await.unwrap();
            })
        })
        .collect();
    for add in adds {
        add.await.unwrap();
    }
    let rows = stores[0].usage_since("2026-12-01").await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].counts, calls(40, 80, 0));
    assert_eq!(
        rows[1].counts,
        UsageCounts {
            prompt_tokens: 400,
            completion_tokens: 40,
            model_calls: 40,
            ..UsageCounts::default()
        }
    );
    super::close_all(&stores).await;
}
