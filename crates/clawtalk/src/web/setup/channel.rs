//! Setup step 2: add a DingTalk channel (Stream by default; HTTP mode or a custom robot),
//! its credentials checked against DingTalk before they are saved.

use axum::Form;
use axum::extract::{Extension, State};
use axum::response::Response;
use dingtalk::Endpoints;
use maud::{Markup, html};
use serde::Deserialize;
use url::Url;

use super::form::{PostedSecret, secret_field};
use super::{Notice, model, render, save::save};
use crate::onboard::check::{self, Outcome};
use crate::onboard::edit::apply;
use crate::onboard::plan::{Credentials, DM_POLICIES, Mode, Plan, Policies, default_secret_var};
use crate::onboard::{check_account_id, check_webhook};
use crate::web::St;
use crate::web::auth::csrf_refused;
use crate::web::i18n::{Lang, t, tf};
use crate::web::sessions::WebSession;

/// The connection modes offered, with the i18n key of their label.
const MODES: [(&str, &str); 3] = [
    ("stream", "setup.mode.stream"),
    ("http", "setup.mode.http"),
    ("customRobot", "setup.mode.robot"),
];

/// What the channel form holds (never the secrets).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Fields {
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret_store: String,
    #[serde(default)]
    pub client_secret_var: String,
    #[serde(default)]
    pub webhook_url: String,
    #[serde(default)]
    pub webhook_secret_store: String,
    #[serde(default)]
    pub webhook_secret_var: String,
    #[serde(default)]
    pub test_send: Option<String>,
    #[serde(default)]
    pub endpoints: String,
    #[serde(default)]
    pub dm_policy: String,
    #[serde(default)]
    pub allow_from: String,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            account: "default".to_owned(),
            mode: "stream".to_owned(),
            client_id: String::new(),
            client_secret_store: "file".to_owned(),
            client_secret_var: String::new(),
            webhook_url: String::new(),
            webhook_secret_store: "file".to_owned(),
            webhook_secret_var: String::new(),
            test_send: None,
            endpoints: String::new(),
            dm_policy: "pairing".to_owned(),
            allow_from: String::new(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct Posted {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    webhook_secret: String,
    #[serde(flatten)]
    fields: Fields,
}

pub(crate) fn form(lang: Lang, csrf: &str, f: &Fields) -> Markup {
    let account = if f.account.trim().is_empty() {
        "default"
    } else {
        f.account.trim()
    };
    let or_default = |var: &str, what: &str| {
        if var.is_empty() {
            default_secret_var(account, what)
        } else {
            var.to_owned()
        }
    };
    html! {
        form.setup method="post" action="/setup/channel" {
            input type="hidden" name="csrf" value=(csrf);
            label for="account" { (t(lang, "setup.account")) }
            input #account type="text" name="account" value=(f.account);
            label for="mode" { (t(lang, "setup.mode")) }
            select #mode name="mode" {
                @for (id, label) in MODES {
                    option value=(id) selected[id == f.mode] { (t(lang, label)) }
                }
            }
            fieldset {
                legend { (t(lang, "setup.app")) }
                label for="client_id" { "Client ID (AppKey)" }
                input #client_id type="text" name="client_id" value=(f.client_id) autocomplete="off";
                (secret_field(lang, "client_secret", "Client Secret (AppSecret)", &f.client_secret_store,
                    &or_default(&f.client_secret_var, "client_secret")))
                label for="dm_policy" { (t(lang, "setup.dm_policy")) }
                select #dm_policy name="dm_policy" {
                    @for p in DM_POLICIES {
                        option value=(p) selected[p == f.dm_policy] { (p) " — " (t(lang, &format!("setup.dm.{p}"))) }
                    }
                }
                label for="allow_from" { (t(lang, "setup.allow_from")) }
                input #allow_from type="text" name="allow_from" value=(f.allow_from);
            }
            fieldset {
                legend { (t(lang, "setup.robot")) }
                label for="webhook_url" { (t(lang, "setup.webhook_url")) }
                input #webhook_url type="url" name="webhook_url" value=(f.webhook_url)
                    placeholder="https://oapi.dingtalk.com/robot/send?access_token=…";
                (secret_field(lang, "webhook_secret", t(lang, "setup.webhook_secret"), &f.webhook_secret_store,
                    &or_default(&f.webhook_secret_var, "robot_secret")))
                label { input type="checkbox" name="test_send" value="on" checked[f.test_send.is_some()]; " " (t(lang, "setup.test_send")) }
            }
            details open[!f.endpoints.is_empty()] {
                summary { (t(lang, "setup.advanced")) }
                label for="endpoints" { (t(lang, "setup.endpoints")) }
                input #endpoints type="url" name="endpoints" value=(f.endpoints) placeholder="https://api.dingtalk.com";
            }
            p.buttons {
                button #channel-save type="submit" name="action" value="save" { (t(lang, "setup.check_save")) }
                " "
                button.secondary #channel-check type="submit" name="action" value="check" { (t(lang, "setup.check")) }
            }
        }
    }
}

/// `POST /setup/channel`: checks the credentials; with `action=save` and a passing check,
/// writes the account.
pub(crate) async fn post(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(posted): Form<Posted>,
) -> Response {
    if !session.csrf_ok(&posted.csrf) {
        return csrf_refused();
    }
    let notice = match plan(lang, &posted) {
        Err(problem) => Notice::Failed(vec![problem]),
        Ok(plan) => match test(lang, &plan, posted.fields.test_send.is_some()).await {
            Err(failure) => Notice::Failed(vec![failure]),
            Ok(passed) if posted.action != "save" => Notice::Ok(vec![passed]),
            Ok(passed) => {
                let _guard = web.setup_lock.lock().await;
                match save(&web.config_path, lang, |doc| apply(doc, &plan)) {
                    Ok(lines) => Notice::Ok(std::iter::once(passed).chain(lines).collect()),
                    Err(lines) => Notice::Failed(lines),
                }
            }
        },
    };
    render(
        &web,
        &session,
        lang,
        &model::Fields::current(&web.gateway),
        None,
        &posted.fields,
        Some(&notice),
    )
}

fn plan(lang: Lang, posted: &Posted) -> Result<Plan, String> {
    let f = &posted.fields;
    let account = f.account.trim();
    check_account_id(account).map_err(|_| tf(lang, "setup.bad_account", &[("id", account)]))?;
    let mode = match f.mode.as_str() {
        "http" => Mode::Http,
        "customRobot" => Mode::CustomRobot,
        _ => Mode::Stream,
    };
    let credentials = if mode == Mode::CustomRobot {
        let webhook_url = check_webhook(f.webhook_url.trim())
            .map_err(|why| tf(lang, "setup.bad_webhook", &[("why", &why)]))?;
        let secret = PostedSecret {
            value: &posted.webhook_secret,
            store: &f.webhook_secret_store,
            var: &f.webhook_secret_var,
        }
        .entry(lang, t(lang, "setup.webhook_secret"))?;
        Credentials::Robot { webhook_url, secret }
    } else {
        let client_id = f.client_id.trim();
        if client_id.is_empty() {
            return Err(t(lang, "setup.need_client_id").to_owned());
        }
        let client_secret = PostedSecret {
            value: &posted.client_secret,
            store: &f.client_secret_store,
            var: &f.client_secret_var,
        }
        .entry(lang, "Client Secret")?
        .ok_or_else(|| t(lang, "setup.need_client_secret").to_owned())?;
        Credentials::App {
            client_id: client_id.to_owned(),
            client_secret,
            token: None,
            aes_key: None,
        }
    };
    let endpoints = match f.endpoints.trim() {
        "" => None,
        text => Some(
            Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| tf(lang, "setup.bad_url", &[("url", text)]))?,
        ),
    };
    let dm_policy = DM_POLICIES
        .iter()
        .copied()
        .find(|p| *p == f.dm_policy)
        .unwrap_or("pairing");
    let allow_from: Vec<String> = f
        .allow_from
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if dm_policy == "allowlist" && allow_from.is_empty() {
        return Err(t(lang, "setup.need_allow_from").to_owned());
    }
    Ok(Plan {
        account: account.to_owned(),
        mode,
        credentials,
        policies: Policies {
            dm_policy,
            allow_from,
            group_policy: "open",
            require_mention: true,
        },
        endpoints,
        model: None,
    })
}

/// The live check: an access token (and a Stream ticket) for an app; a test message for a
/// custom robot only when asked, since everyone in the group sees it.
async fn test(lang: Lang, plan: &Plan, test_send: bool) -> Result<String, String> {
    let outcome = match &plan.credentials {
        Credentials::App {
            client_id,
            client_secret,
            ..
        } => {
            let Some(secret) = &client_secret.value else {
                return Err(tf(
                    lang,
                    "setup.var_unset",
                    &[("var", client_secret.env.as_deref().unwrap_or_default())],
                ));
            };
            let endpoints = plan
                .endpoints
                .as_ref()
                .map_or_else(Endpoints::default, |u| Endpoints::single(u.clone()));
            check::app(plan.mode, client_id, secret, &endpoints).await
        }
        Credentials::Robot { .. } if !test_send => {
            return Ok(t(lang, "setup.robot_untested").to_owned());
        }
        Credentials::Robot { webhook_url, secret } => {
            let secret = secret.as_ref().and_then(|s| s.value.as_ref());
            check::robot(webhook_url, secret).await
        }
    };
    match outcome {
        Outcome::Passed(line) => Ok(line),
        Outcome::Skipped(why) => Err(why),
        Outcome::Failed(f) => Err(tf(
            lang,
            "setup.check_failed",
            &[("step", f.step), ("why", &f.message)],
        )),
    }
}
