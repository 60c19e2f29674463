//! The memory cases of the store contract (`MemoryStore`), on both backends.

use super::*;

contract!(
    memories_are_found_in_chinese_and_english,
    search_never_leaves_the_visible_owners_or_the_agent,
    saving_the_same_fact_again_keeps_one_and_forget_removes_it,
    a_memory_file_is_replaced_whole_and_dropped,
);

fn saved(agent: &str, owner: MemorySubject, text: &str) -> NewMemory {
    NewMemory {
        agent_id: agent.to_owned(),
        owner,
        text: text.to_owned(),
        created_by: Some("alice".to_owned()),
    }
}

fn user(id: &str) -> MemorySubject {
    MemorySubject::new(MemoryScope::User, id)
}

fn query(agent: &str, visible: &[MemorySubject], text: &str) -> MemoryQuery {
    MemoryQuery {
        agent_id: agent.to_owned(),
        visible: visible.to_vec(),
        text: text.to_owned(),
        limit: 5,
    }
}

async fn texts(store: &Arc<dyn Store>, q: &MemoryQuery) -> Vec<String> {
    store
        .memory_search(q)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.record.text)
        .collect()
}

async fn memories_are_found_in_chinese_and_english(db: &dyn Db) {
    let store = db.open().await;
    let alice = user("alice");
    for (i, text) in [
        "用户喜欢喝乌龙茶,不加糖",
        "Alice's VPN password hint is the cat's name",
        "Alice prefers meetings after 10am",
        "下周三去杭州出差",
    ]
    .into_iter()
    .enumerate()
    {
        store
            .memory_save(saved("main", alice.clone(), text), at(i64::try_from(i).unwrap()))
            .await
            .unwrap();
    }
    let visible = [alice.clone()];
    // A Chinese sentence shares only some windows with the memory.
    let hits = texts(&store, &query("main", &visible, "我喜欢喝什么茶?")).await;
    assert_eq!(
        hits.first().map(String::as_str),
        Some("用户喜欢喝乌龙茶,不加糖"),
        "{hits:?}"
    );
    // Two characters: shorter than a trigram.
    assert_eq!(
        texts(&store, &query("main", &visible, "杭州")).await,
        ["下周三去杭州出差"]
    );
    // English, any case, and the best match first.
    let hits = texts(&store, &query("main", &visible, "When are MEETINGS ok?")).await;
    assert_eq!(hits, ["Alice prefers meetings after 10am"]);
    let hits = texts(&store, &query("main", &visible, "vpn")).await;
    assert_eq!(hits, ["Alice's VPN password hint is the cat's name"]);
    // Nothing related: nothing recalled.
    assert!(
        texts(&store, &query("main", &visible, "quarterly budget 预算"))
            .await
            .is_empty()
    );
    // No usable term: the most recent memories.
    let recent = store
        .memory_search(&query("main", &visible, "what do you remember about me?"))
        .await
        .unwrap();
    assert_eq!(recent.len(), 4);
    assert_eq!(recent[0].record.text, "下周三去杭州出差");
    store.close().await;
}

async fn search_never_leaves_the_visible_owners_or_the_agent(db: &dyn Db) {
    let store = db.open().await;
    let group = MemorySubject::new(MemoryScope::Group, "cidGroup1");
    store
        .memory_save(saved("main", user("alice"), "Alice's birthday is May 3"), at(1))
        .await
        .unwrap();
    store
        .memory_save(saved("main", user("bob"), "Bob's birthday is June 9"), at(2))
        .await
        .unwrap();
    store
        .memory_save(
            saved("other", user("alice"), "Alice birthday cake: chocolate"),
            at(3),
        )
        .await
        .unwrap();
    store
        .memory_save(
            saved("main", group.clone(), "The team's birthday lunch is on Fridays"),
            at(4),
        )
        .await
        .unwrap();
    let as_bob = texts(&store, &query("main", &[user("bob")], "birthday")).await;
    assert_eq!(as_bob, ["Bob's birthday is June 9"]);
    let as_alice = texts(&store, &query("main", &[user("alice")], "birthday")).await;
    assert_eq!(as_alice, ["Alice's birthday is May 3"]);
    let in_group = texts(&store, &query("main", &[user("bob"), group.clone()], "birthday")).await;
    assert_eq!(in_group.len(), 2, "{in_group:?}");
    assert!(!in_group.iter().any(|t| t.contains("Alice")), "{in_group:?}");
    // Subjects are exact: a prefix or another case is another owner.
    assert!(
        texts(&store, &query("main", &[user("Alice")], "birthday"))
            .await
            .is_empty()
    );
    assert!(texts(&store, &query("main", &[], "birthday")).await.is_empty());
    // Listing for the console filters the same way.
    let listed = store
        .memory_list(&MemoryFilter {
            agent_id: Some("main".into()),
            scope: Some(MemoryScope::User),
            subject: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].text, "Bob's birthday is June 9");
    let all = store
        .memory_list(&MemoryFilter {
            limit: 10,
            ..MemoryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    store.close().await;
}

async fn saving_the_same_fact_again_keeps_one_and_forget_removes_it(db: &dyn Db) {
    let store = db.open().await;
    let first = store
        .memory_save(saved("main", user("alice"), "Likes  green tea"), at(10))
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.record.text, "Likes green tea");
    assert_eq!(first.record.source, MemorySource::Tool);
    assert_eq!(first.record.created_by.as_deref(), Some("alice"));
    let again = store
        .memory_save(saved("main", user("alice"), "likes green tea\n"), at(20))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.record.id, first.record.id);
    assert_eq!(
        (again.record.created_at_ms, again.record.updated_at_ms),
        (at(10), at(20))
    );
    // Another owner keeps their own copy.
    let bobs = store
        .memory_save(saved("main", user("bob"), "Likes green tea"), at(30))
        .await
        .unwrap();
    assert!(bobs.created);
    // Bad input is refused with a reason.
    let empty = store
        .memory_save(saved("main", user("alice"), "  "), at(1))
        .await
        .unwrap_err();
    assert!(matches!(empty, StoreError::Invalid(_)), "{empty:?}");
    let long = "x".repeat(MAX_MEMORY_CHARS + 1);
    assert!(
        store
            .memory_save(saved("main", user("alice"), &long), at(1))
            .await
            .is_err()
    );
    let agent = store
        .memory_save(saved("main", MemorySubject::agent(), "curated"), at(1))
        .await
        .unwrap_err();
    assert!(agent.to_string().contains("MEMORY.md"), "{agent}");

    // Forget one, then all of an owner; the other owner keeps theirs.
    store
        .memory_save(saved("main", user("alice"), "Works in Hangzhou"), at(40))
        .await
        .unwrap();
    let gone = store.memory_forget(first.record.id).await.unwrap().unwrap();
    assert_eq!(gone.text, "Likes green tea");
    assert!(store.memory_get(first.record.id).await.unwrap().is_none());
    assert!(store.memory_forget(first.record.id).await.unwrap().is_none());
    assert_eq!(
        store.memory_forget_owner("main", &user("alice")).await.unwrap(),
        1
    );
    assert!(
        texts(&store, &query("main", &[user("alice")], ""))
            .await
            .is_empty()
    );
    assert_eq!(
        texts(&store, &query("main", &[user("bob")], "tea")).await,
        ["Likes green tea"]
    );
    // Forgetting survives a restart (or another replica).
    store.close().await;
    let store = db.open().await;
    assert!(store.memory_get(bobs.record.id).await.unwrap().is_some());
    assert!(
        texts(&store, &query("main", &[user("alice")], ""))
            .await
            .is_empty()
    );
    store.close().await;
}

async fn a_memory_file_is_replaced_whole_and_dropped(db: &dyn Db) {
    let store = db.open().await;
    let agent = [MemorySubject::agent()];
    let file = IndexedFile {
        path: "MEMORY.md".into(),
        modified_ms: at(100),
    };
    let entry = |text: &str, line| FileMemory {
        text: text.into(),
        line_start: line,
        line_end: line,
    };
    let entries = vec![
        entry("报销流程:先在钉钉提交审批", 3),
        entry("The office wifi is CorpNet", 5),
        entry("The office wifi is CorpNet", 9),
        entry("   ", 11),
    ];
    store
        .memory_index_file("main", &file, MemorySource::CuratedFile, entries, at(1))
        .await
        .unwrap();
    let hits = store
        .memory_search(&query("main", &agent, "报销怎么走"))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let record = &hits[0].record;
    assert_eq!(record.path.as_deref(), Some("MEMORY.md"));
    assert_eq!(record.lines, Some((3, 3)));
    assert_eq!(record.source, MemorySource::CuratedFile);
    assert_eq!(
        store
            .memory_search(&query("main", &agent, ""))
            .await
            .unwrap()
            .len(),
        2
    );
    // A user sees the agent's files only when the caller says so.
    assert!(
        texts(&store, &query("main", &[user("alice")], "wifi"))
            .await
            .is_empty()
    );
    assert_eq!(
        store.memory_files("main").await.unwrap(),
        std::slice::from_ref(&file)
    );

    // The file changed: what it no longer says disappears.
    let changed = IndexedFile {
        modified_ms: at(200),
        ..file
    };
    store
        .memory_index_file(
            "main",
            &changed,
            MemorySource::CuratedFile,
            vec![entry("The office wifi is CorpNet-5G", 1)],
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(
        texts(&store, &query("main", &agent, "")).await,
        ["The office wifi is CorpNet-5G"]
    );
    assert_eq!(store.memory_files("main").await.unwrap(), [changed]);
    assert!(store.memory_files("other").await.unwrap().is_empty());

    store.memory_drop_file("main", "MEMORY.md").await.unwrap();
    assert!(texts(&store, &query("main", &agent, "")).await.is_empty());
    assert!(store.memory_files("main").await.unwrap().is_empty());
    store.close().await;
}
