//! Planning replies: an answer's text, its AI cards and action cards as numbered
//! [`ReplyPart`]s, before anything is stored or sent.

use clawtalk_config::ResponseFormat;
use clawtalk_core::reply::{CardPart, ReplyPart};
use clawtalk_delivery::{ActionCard, ButtonTarget, CardButton, chunk, markdown};
use std::collections::HashSet;

use clawtalk_store::{NewReplyPart, OutboxPart, ReplyPartId, ReplyStatus};

/// Parts sent while a turn runs (images and files of tools, progress notes) are numbered
/// from here, apart from the answer's (numbered from 1), so a turn's interim parts and its
/// answer never compete for a number whichever is planned first.
pub(crate) const INTERIM_PARTS_FROM: u32 = 1_000_000;

/// The number of an answer's first part.
pub(crate) const FIRST_ANSWER_PART: u32 = 1;

/// How an answer's text is sent as messages.
pub(crate) struct TextAnswer<'a> {
    /// The answer.
    pub text: &'a str,
    /// Markdown (else plain text).
    pub markdown: bool,
    /// `limits.partsPerAnswer`: the rest is cut off with a note.
    pub max_parts: u32,
    /// The account's `responseFormat`: the last part goes out as an action card with its
    /// buttons.
    pub format: Option<&'a ResponseFormat>,
}

/// The answer as message parts, with `truncated` when parts were cut off.
pub(crate) fn text_parts(answer: &TextAnswer<'_>) -> (Vec<ReplyPart>, bool) {
    // Converted before splitting, so the chunker's fence handling sees the fences DingTalk will.
    let converted;
    let text = if answer.markdown {
        converted = markdown::to_dingtalk(answer.text);
        &converted
    } else {
        answer.text
    };
    let title = title_of(text);
    let capped = chunk::split_capped(
        text,
        &chunk::ChunkOptions::default(),
        usize::try_from(answer.max_parts).unwrap_or(usize::MAX),
    );
    let last = capped.parts.len();
    let parts = capped
        .parts
        .into_iter()
        .enumerate()
        .map(|(index, text)| {
            if let Some(card) = answer
                .format
                .filter(|_| index + 1 == last)
                .and_then(|f| formatted_card(f, &title, &text))
            {
                return card.to_part();
            }
            if answer.markdown {
                ReplyPart::Markdown {
                    title: title.clone(),
                    text,
                }
            } else {
                ReplyPart::Text { text }
            }
        })
        .collect();
    (parts, capped.truncated)
}

/// The final contents of a turn's AI cards as parts.
pub(crate) fn card_parts(cards: Vec<CardPart>) -> Vec<ReplyPart> {
    cards.into_iter().map(ReplyPart::AiCard).collect()
}

/// `answer` followed by `action_cards`, numbered from 1: planned together, so each is sent
/// exactly once.
pub(crate) fn numbered(answer: Vec<ReplyPart>, action_cards: &[ActionCard]) -> Vec<NewReplyPart> {
    answer
        .into_iter()
        .chain(action_cards.iter().map(ActionCard::to_part))
        .zip(FIRST_ANSWER_PART..)
        .map(|(body, part)| NewReplyPart { part, body })
        .collect()
}

/// The number of the next interim part after those already planned.
pub(crate) fn next_interim(planned: &[OutboxPart]) -> u32 {
    planned
        .iter()
        .map(|p| p.part)
        .filter(|&n| n >= INTERIM_PARTS_FROM)
        .max()
        .map_or(INTERIM_PARTS_FROM, |n| n + 1)
}

/// The part an earlier run of the turn planned for the same request as `body`, when this
/// run has not matched it yet: the n-th identical request of this run is the n-th of the
/// earlier one. A part that failed for good is not asked for again; a new one is planned.
pub(crate) fn planned_before<'a>(
    earlier: &'a [OutboxPart],
    matched: &HashSet<ReplyPartId>,
    body: &ReplyPart,
) -> Option<&'a OutboxPart> {
    earlier
        .iter()
        .find(|p| !matched.contains(&p.id) && p.status != ReplyStatus::Failed && p.body.same_request(body))
}

/// Whether planning `asked` found another answer already planned for the message (a part of
/// the same number asking for something else, or already sent): a second answer, which the
/// outbox refused (the first plan wins).
pub(crate) fn second_answer_refused(asked: &[NewReplyPart], planned: &[OutboxPart]) -> bool {
    asked.iter().filter(|a| !a.body.is_interim()).any(|a| {
        planned
            .iter()
            .any(|p| p.part == a.part && (p.status.went_out() || !p.body.same_request(&a.body)))
    })
}

/// Whether only the run that planned the part sends it (`TurnOutbox`, while the run goes on):
/// progress notes and the answer's opening. They mean something only while their run goes on:
/// sent by anyone else they come late, after the answer they announce or open. (One the run
/// handed to DingTalk as it ended is `Handed`, and counts as sent.)
pub(crate) fn sent_by_its_run_only(body: &ReplyPart) -> bool {
    matches!(body, ReplyPart::ProgressNote { .. } | ReplyPart::Opening { .. })
}

/// Whether a turn's answer is among `planned`: then a reclaimed turn sends what is left of
/// it instead of asking the agent again.
pub(crate) fn answer_planned(planned: &[OutboxPart]) -> bool {
    planned.iter().any(|p| !p.body.is_interim())
}

/// The answer part `text` as an action card with the format's buttons. `None` (the part
/// goes as plain markdown) only if the card is refused, which the config checks rule out.
pub(crate) fn formatted_card(format: &ResponseFormat, title: &str, text: &str) -> Option<ActionCard> {
    let buttons = format
        .buttons
        .iter()
        .map(|b| CardButton {
            title: b.title.clone(),
            target: ButtonTarget::Url(b.url.clone()),
        })
        .collect();
    ActionCard::new(title, text, buttons, format.horizontal)
        .inspect_err(|error| tracing::warn!(%error, "responseFormat card refused; answering in markdown"))
        .ok()
}

/// DingTalk shows a markdown message's title in the conversation list: the first line, plain.
pub(crate) fn title_of(text: &str) -> String {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let plain: String = first
        .trim_start_matches(['#', '>', '-', '*', ' '])
        .replace(['*', '`', '_'], "");
    let title: String = plain.chars().take(24).collect();
    if title.is_empty() {
        clawtalk_core::notices::REPLY_TITLE.to_owned()
    } else {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clawtalk_config::{ResponseButton, ResponseFormat};
    use clawtalk_core::reply::MediaPart;
    use clawtalk_delivery::Body;

    fn format() -> ResponseFormat {
        ResponseFormat {
            buttons: vec![
                ResponseButton {
                    title: "Approve".into(),
                    url: "dingtalk://dingtalkclient/action/approve".parse().unwrap(),
                },
                ResponseButton {
                    title: "Reject".into(),
                    url: "dingtalk://dingtalkclient/action/reject".parse().unwrap(),
                },
            ],
            horizontal: false,
        }
    }

    fn stored(part: u32, body: ReplyPart) -> OutboxPart {
        OutboxPart {
            id: i64::from(part),
            inbound_id: 1,
            part,
            idempotency_key: format!("k{part}"),
            body,
            status: ReplyStatus::Planned,
            attempts: 0,
            lease: None,
            process_query_key: None,
            sent_at_ms: None,
            last_error: None,
        }
    }

    #[test]
    fn a_response_format_card_keeps_its_client_links_through_the_outbox() {
        let card = formatted_card(&format(), "Leave request", "**3 days** from Monday").unwrap();
        let stored = card.to_part().encode();
        let back = ReplyPart::decode("action_card", &stored).unwrap();
        let Body::ActionCard(payload) = Body::try_from(&back).unwrap() else {
            panic!("an action card body");
        };
        assert_eq!(payload.text, "**3 days** from Monday");
        let urls: Vec<&str> = payload.btns.iter().map(|b| b.action_url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "dingtalk://dingtalkclient/action/approve",
                "dingtalk://dingtalkclient/action/reject"
            ]
        );
    }

    #[test]
    fn the_last_part_takes_the_format_and_action_cards_follow_the_answer() {
        let format = format();
        let answer = TextAnswer {
            text: "# Leave\nthree days",
            markdown: true,
            max_parts: 5,
            format: Some(&format),
        };
        let (parts, truncated) = text_parts(&answer);
        assert!(!truncated);
        assert!(
            matches!(parts.as_slice(), [ReplyPart::ActionCard(_)]),
            "{parts:?}"
        );
        let extra = ActionCard::new(
            "Next",
            "pick",
            vec![CardButton {
                title: "Go".into(),
                target: ButtonTarget::Reply("go".into()),
            }],
            false,
        )
        .unwrap();
        let plain = TextAnswer {
            text: "just text",
            markdown: false,
            max_parts: 5,
            format: None,
        };
        let numbered = numbered(text_parts(&plain).0, &[extra]);
        let shape: Vec<(u32, &str)> = numbered.iter().map(|p| (p.part, p.body.kind())).collect();
        assert_eq!(shape, [(1, "text"), (2, "action_card")]);
    }

    #[test]
    fn interim_parts_are_numbered_apart_and_do_not_count_as_an_answer() {
        assert_eq!(next_interim(&[]), INTERIM_PARTS_FROM);
        let note = ReplyPart::ProgressNote {
            text: "> 🔧".into()
        };
        let earlier = [
            stored(INTERIM_PARTS_FROM, note.clone()),
            stored(INTERIM_PARTS_FROM + 1, note),
        ];
        assert_eq!(next_interim(&earlier), INTERIM_PARTS_FROM + 2);
        assert!(
            !answer_planned(&earlier),
            "only interim parts: the turn runs again"
        );
        let mut with_answer = earlier.to_vec();
        with_answer.push(stored(1, ReplyPart::Text { text: "hi".into() }));
        assert!(answer_planned(&with_answer));
        assert_eq!(next_interim(&with_answer), INTERIM_PARTS_FROM + 2);
    }

    fn chart(media_id: Option<&str>) -> ReplyPart {
        ReplyPart::Image(MediaPart {
            path: "/ws/chart.png".into(),
            sha256: "c0ffee".into(),
            file_name: "chart.png".into(),
            file_type: "png".into(),
            media_id: media_id.map(str::to_owned),
        })
    }

    #[test]
    fn a_rerun_finds_each_earlier_send_once_in_order_and_never_a_failed_one() {
        let mut sent = stored(INTERIM_PARTS_FROM, chart(Some("@1")));
        sent.status = ReplyStatus::Sent;
        let mut failed = stored(INTERIM_PARTS_FROM + 1, chart(None));
        failed.status = ReplyStatus::Failed;
        let uploaded = stored(INTERIM_PARTS_FROM + 2, chart(Some("@3")));
        let note = stored(
            INTERIM_PARTS_FROM + 3,
            ReplyPart::ProgressNote {
                text: "> 🔧 Using `send_image`…".into(),
            },
        );
        let earlier = [sent, failed, uploaded, note];
        let mut matched = HashSet::new();
        let mut ask = |body: &ReplyPart| {
            let found = planned_before(&earlier, &matched, body).map(|p| p.part);
            if let Some(part) = found {
                matched.insert(i64::from(part));
            }
            found
        };
        // The rerun asks for the chart three times: the sent one, the uploaded-but-unsent
        // one (skipping the failed one), then a new part.
        assert_eq!(ask(&chart(None)), Some(INTERIM_PARTS_FROM));
        assert_eq!(ask(&chart(None)), Some(INTERIM_PARTS_FROM + 2));
        assert_eq!(ask(&chart(None)), None);
        let note = ReplyPart::ProgressNote {
            text: "> 🔧 Using `send_image`…".into(),
        };
        assert_eq!(ask(&note), Some(INTERIM_PARTS_FROM + 3));
        assert_eq!(ask(&note), None);
    }

    #[test]
    fn titles_are_the_plain_first_line() {
        assert_eq!(title_of("## **Deploy** summary\n- ok"), "Deploy summary");
        assert_eq!(title_of("\n\n   "), "回复 Reply");
        assert_eq!(
            title_of("这是一个很长很长很长很长很长很长很长很长很长很长的标题")
                .chars()
                .count(),
            24
        );
    }
}
