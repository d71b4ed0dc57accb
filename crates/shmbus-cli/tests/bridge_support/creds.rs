//! A nats-server in operator (decentralized JWT) mode: an operator, its system account and an
//! account with JetStream, preloaded into a memory resolver; users of that account as `.creds`
//! files. The JWTs are signed here with the `nkeys` crate, as `nsc` would sign them.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

/// A signed JWT: `subject`'s claims `nats`, issued by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "jti": format!("{:032X}", rand::random::<u128>()),
        "iat": now,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let sig = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An account's JWT; with JetStream (unlimited) when `jetstream`.
fn account_jwt(operator: &KeyPair, account: &KeyPair, name: &str, jetstream: bool) -> String {
    let js = if jetstream { -1 } else { 0 };
    jwt(
        operator,
        &account.public_key(),
        name,
        json!({
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": js, "disk_storage": js, "streams": js, "consumer": js,
            },
            "default_permissions": {"pub": {}, "sub": {}},
            "type": "account",
            "version": 2,
        }),
    )
}

/// Writes a `.creds` file of a new user of `account` (as `nsc` lays it out).
fn user_creds(account: &KeyPair, name: &str, path: &Path) {
    let user = KeyPair::new_user();
    let token = jwt(
        account,
        &user.public_key(),
        name,
        json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2,
        }),
    );
    let seed = user.seed().unwrap();
    std::fs::write(
        path,
        format!(
            "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        ),
    )
    .unwrap();
}

/// The files of an operator-mode server.
#[derive(Debug)]
pub struct Operator {
    /// The server's configuration (pass it with `-c`).
    pub config: PathBuf,
    /// A user of the JetStream account.
    pub user: PathBuf,
    /// A user of an account the server does not know.
    pub stranger: PathBuf,
}

impl Operator {
    /// Makes the keys, JWTs, configuration and `.creds` files in `dir`.
    pub fn make(dir: &Path) -> Self {
        let operator = KeyPair::new_operator();
        let system = KeyPair::new_account();
        let account = KeyPair::new_account();
        let op_jwt = jwt(
            &operator,
            &operator.public_key(),
            "shmbus-test-operator",
            json!({"system_account": system.public_key(), "type": "operator", "version": 2}),
        );
        let config = dir.join("operator.conf");
        std::fs::write(
            &config,
            format!(
                "operator: \"{op_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\n\
                 resolver_preload: {{\n  {sys}: \"{sys_jwt}\"\n  {acc}: \"{acc_jwt}\"\n}}\n",
                sys = system.public_key(),
                sys_jwt = account_jwt(&operator, &system, "SYS", false),
                acc = account.public_key(),
                acc_jwt = account_jwt(&operator, &account, "BRIDGE", true),
            ),
        )
        .unwrap();
        let user = dir.join("bridge.creds");
        user_creds(&account, "bridge", &user);
        // An account signed by the same operator but never given to the server.
        let stranger = dir.join("stranger.creds");
        user_creds(&KeyPair::new_account(), "stranger", &stranger);
        Self {
            config,
            user,
            stranger,
        }
    }
}
