//! Setup step 1: the model provider, its API key and the model, tested with a real call.

use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Extension, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use url::Url;

use super::form::{PostedSecret, secret_field};
use super::{Notice, channel, render, save::save};
use crate::onboard::check_account_id;
use crate::onboard::edit::apply_model;
use crate::onboard::plan::{ModelPlan, SecretEntry};
use crate::web::St;
use crate::web::auth::csrf_refused;
use crate::web::i18n::{Lang, t, tf};
use crate::web::sessions::WebSession;
use clawtalk_core::mask::mask_text;
use clawtalk_gateway::GatewayHandle;
use clawtalk_llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, ProviderPreset, RetryPolicy, Timeouts};

/// The test call's limits: long enough for a slow first token, short enough to wait for.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The test answer shown at most, in characters.
const ANSWER_SHOWN: usize = 120;

/// The presets offered, in the order a DingTalk operator most likely wants them, with the
/// i18n key of their label; `custom` is any OpenAI-compatible URL.
const PROVIDERS: [(&str, &str); 10] = [
    ("dashscope", "setup.p.dashscope"),
    ("dashscope-coding", "setup.p.dashscope_coding"),
    ("dashscope-intl", "setup.p.dashscope_intl"),
    ("deepseek", "setup.p.deepseek"),
    ("moonshot", "setup.p.moonshot"),
    ("zhipu", "setup.p.zhipu"),
    ("zhipu-coding", "setup.p.zhipu_coding"),
    ("zai", "setup.p.zai"),
    ("bailian-token-plan", "setup.p.token_plan"),
    ("custom", "setup.p.custom"),
];

/// What the model form holds (never the key).
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct Fields {
    #[serde(default)]
    pub provider: String,
    /// The provider id written for a custom URL.
    #[serde(default)]
    pub provider_id: String,
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub api_key_store: String,
    #[serde(default)]
    pub api_key_var: String,
}

impl Fields {
    /// The form for a running gateway: its default model's provider when that is a preset.
    pub(crate) fn current(gateway: &GatewayHandle) -> Self {
        let config = gateway.config();
        let preset = config
            .agent(&config.default_agent)
            .and_then(|a| PROVIDERS.iter().find(|(id, _)| *id == a.model.provider))
            .map_or("dashscope", |(id, _)| id);
        Self {
            provider: preset.to_owned(),
            provider_id: "local".to_owned(),
            ..Self::default()
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
    api_key: String,
    #[serde(flatten)]
    fields: Fields,
}

pub(crate) fn form(lang: Lang, csrf: &str, f: &Fields) -> Markup {
    let preset = ProviderPreset::from_id(&f.provider);
    let default_var = preset
        .and_then(|p| p.api_key_env().first().copied())
        .unwrap_or("OPENAI_API_KEY");
    let var = if f.api_key_var.is_empty() {
        default_var
    } else {
        &f.api_key_var
    };
    html! {
        form.setup method="post" action="/setup/model" {
            input type="hidden" name="csrf" value=(csrf);
            label for="provider" { (t(lang, "setup.provider")) }
            select #provider name="provider" {
                @for (id, label) in PROVIDERS {
                    option value=(id) selected[id == f.provider] { (t(lang, label)) }
                }
            }
            label for="provider_id" { (t(lang, "setup.provider_id")) }
            input #provider_id type="text" name="provider_id" value=(f.provider_id);
            label for="base_url" { (t(lang, "setup.base_url")) }
            input #base_url type="url" name="base_url" value=(f.base_url) placeholder="https://…/v1";
            (secret_field(lang, "api_key", t(lang, "setup.api_key"), &f.api_key_store, var))
            label for="model" { (t(lang, "setup.model_id")) }
            input #model type="text" name="model" value=(f.model)
                placeholder=(preset.and_then(ProviderPreset::default_model).unwrap_or("qwen-plus"));
            p.buttons {
                button #model-save type="submit" name="action" value="save" { (t(lang, "setup.test_save")) }
                " "
                button.secondary #model-test type="submit" name="action" value="test" { (t(lang, "setup.test")) }
            }
        }
    }
}

/// `POST /setup/model`: tests the model; with `action=save` and a passing test, writes it.
pub(crate) async fn post(
    State(web): St,
    Extension(session): Extension<WebSession>,
    lang: Lang,
    Form(posted): Form<Posted>,
) -> Response {
    if !session.csrf_ok(&posted.csrf) {
        return csrf_refused();
    }
    let fields = &posted.fields;
    let notice = match plan(lang, &posted) {
        Err(problem) => Notice::Failed(vec![problem]),
        Ok(plan) => match test(lang, &plan).await {
            Err(failure) => Notice::Failed(vec![failure]),
            Ok(passed) if posted.action != "save" => Notice::Ok(vec![passed]),
            Ok(passed) => {
                let _guard = web.setup_lock.lock().await;
                match save(&web.config_path, lang, |doc| apply_model(doc, &plan)) {
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
        fields,
        Some(&notice),
        &channel::Fields::default(),
        None,
    )
}

/// What to write, from the posted form.
fn plan(lang: Lang, posted: &Posted) -> Result<ModelPlan, String> {
    let f = &posted.fields;
    let preset = ProviderPreset::from_id(&f.provider)
        .ok_or_else(|| tf(lang, "setup.unknown_provider", &[("provider", &f.provider)]))?;
    let provider = if preset == ProviderPreset::Custom {
        let id = f.provider_id.trim();
        check_account_id(id).map_err(|_| tf(lang, "setup.bad_provider_id", &[("id", id)]))?;
        id.to_owned()
    } else {
        preset.id().to_owned()
    };
    let base_url = match f.base_url.trim() {
        "" if preset == ProviderPreset::Custom => return Err(t(lang, "setup.need_base_url").to_owned()),
        "" => None,
        text => Some(
            Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| tf(lang, "setup.bad_url", &[("url", text)]))?,
        ),
    };
    let model = match (f.model.trim(), preset.default_model()) {
        ("", Some(default)) => default.to_owned(),
        ("", None) => return Err(t(lang, "setup.need_model").to_owned()),
        (model, _) => model.to_owned(),
    };
    let secret = PostedSecret {
        value: &posted.api_key,
        store: &f.api_key_store,
        var: &f.api_key_var,
    };
    let api_key = secret.entry(lang, t(lang, "setup.api_key"))?;
    Ok(ModelPlan {
        provider,
        model,
        base_url,
        api_key,
    })
}

/// One short chat completion against the provider as it would be written.
async fn test(lang: Lang, plan: &ModelPlan) -> Result<String, String> {
    let preset = ProviderPreset::from_id(&plan.provider).unwrap_or(ProviderPreset::Custom);
    let key = match plan.api_key.as_ref() {
        Some(SecretEntry { value: Some(v), .. }) => v.clone(),
        Some(SecretEntry { value: None, env }) => {
            return Err(tf(
                lang,
                "setup.var_unset",
                &[("var", env.as_deref().unwrap_or_default())],
            ));
        }
        None => preset
            .api_key_from_env()
            .unwrap_or_else(|| dingtalk::Secret::new("")),
    };
    let mut config = LlmConfig::new(preset, key)
        .with_model(plan.model.clone())
        .with_retry(RetryPolicy::none())
        .with_timeouts(Timeouts {
            request: TEST_TIMEOUT,
            first_byte: TEST_TIMEOUT,
            ..Timeouts::default()
        });
    if let Some(url) = &plan.base_url {
        config = config.with_base_url(url.as_str());
    }
    let client = LlmClient::new(config).map_err(|e| mask_text(&e.to_string()).into_owned())?;
    let request = ChatRequest::new(
        plan.model.clone(),
        vec![ChatMessage::user("Reply with one short sentence: are you there?")],
    );
    let started = Instant::now();
    match client.complete(request).await {
        Ok(answer) => {
            let shown: String = answer.content.chars().take(ANSWER_SHOWN).collect();
            Ok(tf(
                lang,
                "setup.model_ok",
                &[
                    ("model", &format!("{}/{}", plan.provider, plan.model)),
                    ("ms", &started.elapsed().as_millis().to_string()),
                    ("answer", shown.trim()),
                ],
            ))
        }
        // The error's text can quote the provider's body; it is masked, and the key is
        // never part of it (the client scrubs it).
        Err(e) => Err(tf(
            lang,
            "setup.model_failed",
            &[("why", &mask_text(&e.to_string()))],
        )),
    }
}
