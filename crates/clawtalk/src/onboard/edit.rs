//! Puts a [`Plan`] into the config document, keeping every other key.

use clawtalk_config::Value;

use super::plan::{Credentials, Mode, ModelPlan, Plan};

/// Keys that say which bot an account is and how it connects: replaced as a set, so
/// switching an account from Stream to a Custom Robot leaves no stale credentials behind.
const CONNECTION_KEYS: &[&str] = &[
    "mode",
    "clientId",
    "clientSecret",
    "robotCode",
    "token",
    "aesKey",
    "webhookUrl",
    "secret",
];

/// Ids of the DingTalk accounts already in `channels.dingtalk`.
pub(crate) fn account_ids(doc: &Value) -> Vec<String> {
    let Some(section) = doc.at(&["channels", "dingtalk"]) else {
        return Vec::new();
    };
    match section.get("accounts") {
        Some(Value::Object(entries)) if !entries.is_empty() => {
            entries.iter().map(|(k, _)| k.clone()).collect()
        }
        _ if is_top_level_account(section) => vec!["default".to_owned()],
        _ => Vec::new(),
    }
}

fn is_top_level_account(section: &Value) -> bool {
    ["clientId", "webhookUrl"]
        .iter()
        .any(|k| section.get(k).is_some_and(|v| *v != Value::Null))
}

/// The default model already configured, if any (`agents.defaults.model[.primary]`, or the
/// first agent's `model`).
pub(crate) fn current_model(doc: &Value) -> Option<String> {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        other => match other.get("primary") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
    };
    doc.at(&["agents", "defaults", "model"])
        .and_then(as_text)
        .or_else(|| match doc.at(&["agents", "list"]) {
            Some(Value::Array(list)) => list.iter().find_map(|a| a.get("model").and_then(as_text)),
            _ => None,
        })
}

/// Writes the account (and model) of `plan` into `doc`.
///
/// A lone account written at the top of `channels.dingtalk` stays there when it is the one
/// being replaced; adding a second account moves the first one's connection keys into
/// `accounts.default`, since the top-level keys then only act as shared defaults.
pub(crate) fn apply(doc: &mut Value, plan: &Plan) {
    let section = doc.object_at(&["channels", "dingtalk"]);
    let has_accounts = matches!(section.get("accounts"), Some(Value::Object(e)) if !e.is_empty());
    let target = if !has_accounts && plan.account == "default" {
        section
    } else {
        if !has_accounts && is_top_level_account(section) {
            let moved: Vec<(String, Value)> = CONNECTION_KEYS
                .iter()
                .filter_map(|k| section.remove(k).map(|v| ((*k).to_owned(), v)))
                .collect();
            section.object_at(&["accounts", "default"]);
            let default = section.object_at(&["accounts", "default"]);
            for (k, v) in moved {
                default.set(&k, v);
            }
        }
        section.object_at(&["accounts", plan.account.as_str()])
    };
    write_account(target, plan);
    if let Some(model) = &plan.model {
        apply_model(doc, model);
    }
}

/// Writes the provider of `model` and makes it the agents' default model.
pub(crate) fn apply_model(doc: &mut Value, model: &ModelPlan) {
    let provider = doc.object_at(&["models", "providers", model.provider.as_str()]);
    if let Some(url) = &model.base_url {
        provider.set("baseUrl", Value::str(url.as_str()));
    }
    if let Some(key) = &model.api_key {
        provider.set("apiKey", Value::str(key.written()));
    }
    let reference = Value::str(format!("{}/{}", model.provider, model.model));
    let defaults = doc.object_at(&["agents", "defaults"]);
    match defaults.get_mut("model") {
        Some(existing @ Value::Object(_)) => existing.set("primary", reference),
        _ => defaults.set("model", reference),
    }
}

fn write_account(account: &mut Value, plan: &Plan) {
    for key in CONNECTION_KEYS {
        account.remove(key);
    }
    account.set("mode", Value::str(plan.mode.key()));
    match &plan.credentials {
        Credentials::App {
            client_id,
            client_secret,
            token,
            aes_key,
        } => {
            account.set("clientId", Value::str(client_id.clone()));
            account.set("clientSecret", Value::str(client_secret.written()));
            if let Some(token) = token {
                account.set("token", Value::str(token.written()));
            }
            if let Some(key) = aes_key {
                account.set("aesKey", Value::str(key.written()));
            }
        }
        Credentials::Robot { webhook_url, secret } => {
            account.set("webhookUrl", Value::str(webhook_url.as_str()));
            if let Some(secret) = secret {
                account.set("secret", Value::str(secret.written()));
            }
        }
    }
    let p = &plan.policies;
    if plan.mode != Mode::CustomRobot {
        account.set("dmPolicy", Value::str(p.dm_policy));
        if p.allow_from.is_empty() {
            account.remove("allowFrom");
        } else {
            account.set(
                "allowFrom",
                Value::Array(p.allow_from.iter().map(|s| Value::str(s.clone())).collect()),
            );
        }
    }
    account.set("groupPolicy", Value::str(p.group_policy));
    account.set("requireMention", Value::Bool(p.require_mention));
    if let Some(url) = &plan.endpoints {
        account.set("endpoints", Value::str(url.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onboard::plan::{ModelPlan, Policies, SecretEntry};
    use clawtalk_config::parse_document;
    use dingtalk::Secret;

    fn stream_plan(account: &str, id: &str) -> Plan {
        Plan {
            account: account.into(),
            mode: Mode::Stream,
            credentials: Credentials::App {
                client_id: id.into(),
                client_secret: SecretEntry {
                    value: Some(Secret::new("v")),
                    env: Some("BOT_SECRET".into()),
                },
                token: None,
                aes_key: None,
            },
            policies: Policies {
                dm_policy: "pairing",
                allow_from: Vec::new(),
                group_policy: "open",
                require_mention: true,
            },
            endpoints: None,
            model: None,
        }
    }

    #[test]
    fn a_first_account_goes_at_the_top_and_other_keys_stay() {
        let mut doc = parse_document("{ gateway: { port: 1 }, channels: { telegram: { x: 1 } } }").unwrap();
        apply(&mut doc, &stream_plan("default", "dingA"));
        assert!(matches!(doc.at(&["gateway", "port"]), Some(Value::Number(n)) if n.as_i64() == Some(1)));
        assert!(doc.at(&["channels", "telegram", "x"]).is_some());
        assert_eq!(
            doc.at(&["channels", "dingtalk", "clientId"]),
            Some(&Value::str("dingA"))
        );
        assert_eq!(
            doc.at(&["channels", "dingtalk", "clientSecret"]),
            Some(&Value::str("${BOT_SECRET}"))
        );
        assert_eq!(account_ids(&doc), ["default"]);
    }

    #[test]
    fn a_second_account_moves_the_first_under_accounts() {
        let mut doc = parse_document(
            "{ channels: { dingtalk: { clientId: 'dingA', clientSecret: 'a', cardTemplateId: 't' } } }",
        )
        .unwrap();
        apply(&mut doc, &stream_plan("sales", "dingB"));
        let section = doc.at(&["channels", "dingtalk"]).unwrap();
        assert_eq!(
            section.at(&["accounts", "default", "clientId"]),
            Some(&Value::str("dingA"))
        );
        assert_eq!(
            section.at(&["accounts", "default", "clientSecret"]),
            Some(&Value::str("a"))
        );
        assert_eq!(
            section.at(&["accounts", "sales", "clientId"]),
            Some(&Value::str("dingB"))
        );
        // Shared settings stay shared.
        assert_eq!(section.get("cardTemplateId"), Some(&Value::str("t")));
        assert!(section.get("clientId").is_none());
        assert_eq!(account_ids(&doc), ["default", "sales"]);
    }

    #[test]
    fn replacing_an_account_drops_stale_connection_keys_and_sets_the_model() {
        let mut doc = parse_document(
            "{ agents: { defaults: { model: { primary: 'a/b', fallbacks: ['c/d'] } } },
               channels: { dingtalk: { accounts: { ops: { clientId: 'x', clientSecret: 'y', name: 'Ops' } } } } }",
        )
        .unwrap();
        let mut plan = stream_plan("ops", "unused");
        plan.mode = Mode::CustomRobot;
        plan.credentials = Credentials::Robot {
            webhook_url: "https://oapi.dingtalk.com/robot/send?access_token=t"
                .parse()
                .unwrap(),
            secret: None,
        };
        plan.model = Some(ModelPlan {
            provider: "deepseek".into(),
            model: "deepseek-chat".into(),
            base_url: None,
            api_key: Some(SecretEntry {
                value: None,
                env: Some("DEEPSEEK_API_KEY".into()),
            }),
        });
        apply(&mut doc, &plan);
        let ops = doc.at(&["channels", "dingtalk", "accounts", "ops"]).unwrap();
        assert!(ops.get("clientId").is_none() && ops.get("clientSecret").is_none());
        assert_eq!(ops.get("name"), Some(&Value::str("Ops")));
        assert_eq!(ops.get("mode"), Some(&Value::str("customRobot")));
        assert!(ops.get("dmPolicy").is_none());
        assert_eq!(
            doc.at(&["agents", "defaults", "model", "primary"]),
            Some(&Value::str("deepseek/deepseek-chat"))
        );
        assert!(doc.at(&["agents", "defaults", "model", "fallbacks"]).is_some());
        assert_eq!(
            doc.at(&["models", "providers", "deepseek", "apiKey"]),
            Some(&Value::str("${DEEPSEEK_API_KEY}"))
        );
        assert_eq!(current_model(&doc).as_deref(), Some("deepseek/deepseek-chat"));
    }
}
