//! `/usage`: model tokens and DingTalk API calls per day, account and agent over the last 30
//! days, as bar charts and a table, with the monthly DingTalk quota's warnings.

use std::collections::BTreeSet;

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error_page_in;
use super::usage_chart::bar_chart;
use crate::web::St;
use crate::web::i18n::{Lang, t};
use crate::web::layout;
use crate::web::sessions::WebSession;
use clawtalk_gateway::usage::quota::QuotaLevel;
use clawtalk_gateway::usage::{QuotaStatus, last_days};
use clawtalk_store::{USAGE_NO_AGENT, UsageRow};

/// Days the page shows, today included.
const DAYS: u32 = 30;

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    #[serde(default)]
    account: String,
    #[serde(default)]
    agent: String,
}

impl Filter {
    fn keeps(&self, row: &UsageRow) -> bool {
        let account = self.account.trim();
        let agent = self.agent.trim();
        (account.is_empty() || row.account_id == account)
            // DingTalk calls belong to the account, not to an agent: an agent filter leaves
            // them in so the account's calls stay visible beside the agent's tokens.
            && (agent.is_empty() || row.agent_id == agent || row.agent_id == USAGE_NO_AGENT)
    }
}

pub(crate) async fn page(
    State(web): St,
    Extension(session): Extension<WebSession>,
    Query(filter): Query<Filter>,
    lang: Lang,
) -> Response {
    let days = last_days(web.gateway.now(), DAYS);
    let first = days.first().cloned().unwrap_or_default();
    let (rows, quota) = match tokio::try_join!(web.gateway.usage_since(&first), web.gateway.quota()) {
        Ok(found) => found,
        Err(error) => {
            let message = format!("cannot read the usage figures: {error:#}");
            return error_page_in(lang, StatusCode::INTERNAL_SERVER_ERROR, &session.csrf, &message);
        }
    };
    let config = web.gateway.config();
    let accounts: BTreeSet<String> = rows
        .iter()
        .map(|r| r.account_id.clone())
        .chain(config.enabled_accounts().map(|a| a.id.clone()))
        .collect();
    let agents: BTreeSet<String> = rows
        .iter()
        .map(|r| r.agent_id.clone())
        .filter(|a| a != USAGE_NO_AGENT)
        .chain(config.agents.iter().map(|a| a.id.clone()))
        .collect();
    let shown: Vec<&UsageRow> = rows.iter().filter(|r| filter.keeps(r)).collect();
    let per_day = |value: fn(&UsageRow) -> u64| -> Vec<(String, u64)> {
        days.iter()
            .map(|day| {
                let sum = shown.iter().filter(|r| &r.day == day).map(|r| value(r)).sum();
                (day.clone(), sum)
            })
            .collect()
    };
    let tokens = per_day(|r| r.counts.tokens());
    let calls = per_day(|r| r.counts.api_calls());
    let body = html! {
        h1 { (t(lang, "usage.title")) }
        (quota_banner(lang, &quota))
        form.filters method="get" action="/usage" {
            label { (t(lang, "usage.account")) " "
                select name="account" {
                    option value="" { (t(lang, "usage.all")) }
                    @for account in &accounts {
                        option value=(account) selected[*account == filter.account] { (account) }
                    }
                }
            }
            " "
            label { (t(lang, "usage.agent")) " "
                select name="agent" {
                    option value="" { (t(lang, "usage.all")) }
                    @for agent in &agents {
                        option value=(agent) selected[*agent == filter.agent] { (agent) }
                    }
                }
            }
            " " button type="submit" { (t(lang, "usage.filter")) }
        }
        (quota_table(lang, &quota))
        (bar_chart("chart-tokens", t(lang, "usage.chart_tokens"), &tokens, "#1677ff"))
        (bar_chart("chart-calls", t(lang, "usage.chart_calls"), &calls, "#00a870"))
        p.muted { (t(lang, "usage.note")) }
        table #usage-rows {
            thead { tr {
                th { (t(lang, "usage.day")) } th { (t(lang, "usage.account")) } th { (t(lang, "usage.agent")) }
                th { (t(lang, "usage.prompt")) } th { (t(lang, "usage.completion")) }
                th { (t(lang, "usage.model_calls")) } th { (t(lang, "usage.api_calls")) }
                th { (t(lang, "usage.kinds")) } th { (t(lang, "usage.exempt")) }
                th { (t(lang, "usage.refusals")) }
            } }
            tbody {
                @if shown.is_empty() {
                    tr { td colspan="10" { span.muted { (t(lang, "usage.none")) } } }
                }
                @for row in shown.iter().rev() {
                    @let c = &row.counts;
                    tr data-account=(row.account_id) data-agent=(row.agent_id) {
                        td { (row.day) } td { (row.account_id) } td { (row.agent_id) }
                        td.prompt { (c.prompt_tokens) } td.completion { (c.completion_tokens) }
                        td { (c.model_calls) } td.quota-calls { (c.quota_calls()) }
                        td.muted { (c.api_messages) " / " (c.api_cards) " / " (c.api_media) " / " (c.api_other) }
                        td { (c.api_exempt) }
                        td { @if c.quota_errors > 0 { span.bad { (c.quota_errors) } } @else { "0" } }
                    }
                }
            }
        }
    };
    layout::page_in(lang, t(lang, "usage.title"), "/usage", Some(&session.csrf), &body).into_response()
}

/// This month's DingTalk calls of each account against its quota.
fn quota_table(lang: Lang, quota: &[QuotaStatus]) -> Markup {
    html! {
        @if !quota.is_empty() {
            table #quota {
                thead { tr {
                    th { (t(lang, "usage.account")) } th { (t(lang, "usage.month_calls")) }
                    th { (t(lang, "usage.quota")) }
                } }
                tbody {
                    @for status in quota {
                        tr data-account=(status.account_id) {
                            td { (status.account_id) }
                            td { (status.used) }
                            td {
                                @if status.quota == 0 { span.muted { (t(lang, "usage.unlimited")) } }
                                @else { (status.quota) " (" (status.percent()) "%)" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The warnings of accounts at 80 % or more of their monthly DingTalk quota, or refused by
/// DingTalk for it; nothing when all is well. The status page shows it too.
pub(crate) fn quota_banner(lang: Lang, quota: &[QuotaStatus]) -> Markup {
    html! {
        @for status in quota.iter().filter(|s| s.needs_warning()) {
            @let reached = status.level == QuotaLevel::Reached || status.errors > 0;
            div.quota-warning.(if reached { "error" } else { "notice" }) data-account=(status.account_id) {
                strong { (status.account_id) ": " }
                @if status.level != QuotaLevel::Fine {
                    (t(lang, if reached { "usage.quota_reached" } else { "usage.quota_near" }))
                    " " (status.used) " / " (status.quota) " (" (status.percent()) "%)."
                }
                @if status.errors > 0 {
                    " " (t(lang, "usage.quota_refused")) " " (status.errors)
                }
                " " a href="/usage" { (t(lang, "usage.title")) }
            }
        }
    }
}
