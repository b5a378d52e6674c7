//! `hale apps`: register developer apps (OAuth clients) and manage their credentials. The CLI
//! acts as the operator on the data directory's database directly, so it works whether or not
//! a server is running on it.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::settings::StoreArgs;

/// Settings of `hale apps`.
#[derive(Args, Debug)]
pub struct AppsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    action: AppsAction,
}

/// The `hale apps` actions.
#[derive(Subcommand, Debug)]
pub enum AppsAction {
    /// Register an app and print its client_id and client_secret (the secret is shown only now).
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// A redirect URI of the app (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the apps (never their secrets).
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Give an app a new client secret; the old one stops working at once.
    RotateSecret {
        /// The app's client_id.
        client_id: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Disable an app: its credentials, codes and tokens stop working.
    Disable {
        /// The app's client_id.
        client_id: String,
    },
}

/// Runs `hale apps`.
pub fn run(args: AppsArgs) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let stores = args.store.stores().await?;
        // Token settings do not matter to app management; the defaults stand.
        let identity = stores.identity(hale_auth::AuthConfig::default());
        let result = act(&identity, args.action).await;
        stores.shutdown();
        result
    })
}

async fn act(identity: &hale_auth::Identity, action: AppsAction) -> anyhow::Result<()> {
    match action {
        AppsAction::Create {
            name,
            redirect_uris,
            json,
        } => {
            let (app, secret) = identity.create_app(&name, redirect_uris).await?;
            if json {
                println!(
                    "{}",
                    json!({"client_id": app.client_id, "client_secret": secret, "name": app.name,
                           "redirect_uris": app.redirect_uris})
                );
            } else {
                println!("Created app {:?}.", app.name);
                println!("client_id:     {}", app.client_id);
                println!("client_secret: {secret}");
                println!(
                    "The secret is shown only now; `hale apps rotate-secret` makes a new one."
                );
            }
        }
        AppsAction::List { json } => {
            let apps = identity.apps().await?;
            if json {
                let list: Vec<_> = apps
                    .iter()
                    .map(|a| {
                        json!({"client_id": a.client_id, "name": a.name,
                               "redirect_uris": a.redirect_uris, "disabled": a.disabled,
                               "created_at": a.created_at})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if apps.is_empty() {
                println!("No apps; `hale apps create --name NAME` registers one.");
            } else {
                for app in apps {
                    let state = if app.disabled { "disabled" } else { "enabled" };
                    println!("{}  {:8}  {}", app.client_id, state, app.name);
                }
            }
        }
        AppsAction::RotateSecret { client_id, json } => {
            let Some(secret) = identity.rotate_secret(&client_id).await? else {
                bail!("no app has client_id {client_id}");
            };
            if json {
                println!(
                    "{}",
                    json!({"client_id": client_id, "client_secret": secret})
                );
            } else {
                println!("client_secret: {secret}");
            }
        }
        AppsAction::Disable { client_id } => {
            if !identity.disable_app(&client_id).await? {
                bail!("no app has client_id {client_id}");
            }
            println!("Disabled app {client_id}.");
        }
    }
    Ok(())
}
