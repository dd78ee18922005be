//! The bootstrap file a node starts from: which node it is, the pair's names
//! and addresses (SwitchoverServer A and B, Server A/B Address), ports,
//! certificate paths, data directory, administrator credentials and the
//! start-up modes. Everything else lives in the server parameters.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use duet_params::{ServerId, StartupModes};
use serde::{Deserialize, Serialize};

/// One node of the pair as the bootstrap file describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's name (the seed's SwitchoverServer A or B).
    pub name: String,
    /// The address switchover traffic uses (Server A/B Address).
    pub address: IpAddr,
    #[serde(default = "default_arbiter_port")]
    pub arbiter_port: u16,
    #[serde(default = "default_link_port")]
    pub link_port: u16,
    #[serde(default = "default_http_port")]
    pub http_port: u16,
    /// Email intake (SMTP).
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
}

fn default_arbiter_port() -> u16 {
    3633
}
fn default_link_port() -> u16 {
    3634
}
fn default_http_port() -> u16 {
    8080
}
fn default_smtp_port() -> u16 {
    2525
}

impl NodeEntry {
    pub fn arbiter_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.arbiter_port)
    }
    pub fn link_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.link_port)
    }
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.http_port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsPaths {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A user of the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// An argon2 hash (`duet passwd` prints one); a plain password is
    /// still accepted, and `duet config check` warns about it.
    pub password: String,
    /// The seed's Remote Control right: may ask the backup to switch.
    #[serde(default)]
    pub remote_control: bool,
    /// A master administrator: may use the immediate switch.
    #[serde(default)]
    pub master: bool,
}

/// Test-only faults the active node can be made to show, like the seed's
/// "hardware tests on TSServer". Off unless the bootstrap file turns it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    #[serde(default)]
    pub enabled: bool,
}

/// Commands and webhooks run on the seed's Commence (this node becomes
/// active) and Discontinue (it stops being active, best effort) events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub commence: Vec<String>,
    #[serde(default)]
    pub discontinue: Vec<String>,
    /// URLs that get a JSON POST on both events.
    #[serde(default)]
    pub webhooks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// This node's name: one of `server_a.name` and `server_b.name`.
    pub this: String,
    pub server_a: NodeEntry,
    pub server_b: NodeEntry,
    pub data_dir: PathBuf,
    pub tls: TlsPaths,
    #[serde(default)]
    pub users: Vec<User>,
    /// Where the HTTP API listens; this node's switchover address when not
    /// set ("0.0.0.0" serves every interface, e.g. a management network).
    #[serde(default)]
    pub http_listen: Option<IpAddr>,
    /// A file of server parameters (TOML); the seed's defaults without it.
    #[serde(default)]
    pub params_file: Option<PathBuf>,
    /// This node's release; the program's version when not set.
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub force_backup: bool,
    #[serde(default)]
    pub manual_switch_only: bool,
    #[serde(default)]
    pub fault_injection: FaultInjection,
    #[serde(default)]
    pub hooks: Hooks,
    /// An etcd witness: the right to serve also needs its lease.
    #[serde(default)]
    pub witness: Option<Witness>,
    /// The contact center's secrets.
    #[serde(default)]
    pub contact_center: ContactCenter,
    /// Per-source limits on chats, callbacks and sign-ins.
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// The HTTP API over TLS (HTTPS only) when the table is there.
    #[serde(default)]
    pub http_tls: Option<TlsCertificate>,
    /// SMTP intake offers STARTTLS when the table is there.
    #[serde(default)]
    pub smtp_tls: Option<TlsCertificate>,
    /// Reporting databases (written by `duet report writer`) that
    /// `GET /api/reports/...` reads, the first that covers an interval
    /// first; each an SQLite file's path (relative to this file) or a
    /// `postgres://` URL; none: the node serves no reports.
    #[serde(default)]
    pub reporting_databases: Vec<duet_report::Database>,
    /// The node's nice value, set as it starts: below 0 its threads get a
    /// core ahead of other work on the machine (a build, a report, a
    /// backup), so its heartbeats and its lease never wait behind them.
    /// It needs root or CAP_SYS_NICE; without, the node says so and runs
    /// at the value it was started with.
    #[serde(default = "default_nice")]
    pub nice: i32,
}

/// Ahead of ordinary work, behind the kernel's own and real-time tasks.
pub const DEFAULT_NICE: i32 = -5;

fn default_nice() -> i32 {
    DEFAULT_NICE
}

/// The `[http_tls]` and `[smtp_tls]` tables: the certificate the HTTP
/// API or the SMTP intake presents; the node's pair certificate (`[tls]`)
/// when not given, which clients then trust through the pair's CA.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCertificate {
    /// PEM: the certificate and its chain.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// PEM: its private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl TlsCertificate {
    /// The certificate and key files to use, given the node's pair ones.
    pub fn files<'a>(&'a self, pair: &'a TlsPaths) -> (&'a Path, &'a Path) {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => (cert, key),
            _ => (&pair.cert, &pair.key),
        }
    }
}

/// The TLS acceptor for a bootstrap's `[http_tls]` or `[smtp_tls]` table
/// (named `table`), if it has it.
pub fn tls_acceptor(
    certificate: Option<&TlsCertificate>,
    pair: &TlsPaths,
    table: &str,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    use anyhow::Context as _;
    let Some(certificate) = certificate else {
        return Ok(None);
    };
    let (cert, key) = certificate.files(pair);
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .with_context(|| format!("{table}: cannot read {}", path.display()))
    };
    let config = duet_link::tls::api_server_config(&read(cert)?, &read(key)?)
        .with_context(|| format!("{table}: the certificate and key are not usable"))?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(config)))
}

/// The `[contact_center]` table: secrets both nodes share, in files
/// readable by the owner only (`duet certs init` writes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactCenter {
    /// 32 random bytes (hex) that sign API sessions and customers'
    /// conversation tokens, so both hold across a switchover. Without it
    /// nobody can sign in to the contact center's API.
    #[serde(default)]
    pub session_key: Option<PathBuf>,
    /// The key SMS and social providers sign their webhooks with (HMAC
    /// SHA-256, hex in `x-duet-signature`). Without it webhooks are refused.
    #[serde(default)]
    pub webhook_secret: Option<PathBuf>,
    /// Whether signatures of the body alone (`sha256=`, the first scheme)
    /// are still accepted beside `v2=` (route, time and body); turn it
    /// off once every provider signs with v2.
    #[serde(default = "accepted")]
    pub webhook_body_only_signatures: bool,
}

fn accepted() -> bool {
    true
}

impl Default for ContactCenter {
    fn default() -> ContactCenter {
        ContactCenter {
            session_key: None,
            webhook_secret: None,
            webhook_body_only_signatures: accepted(),
        }
    }
}

/// The `[witness]` table: an etcd cluster both nodes reach, and the key
/// that names the node holding the pair's witness lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    /// The etcd cluster's client URLs, `http://host:port`.
    pub endpoints: Vec<String>,
    /// The key; `duet/<server_a name>-<server_b name>/active` when not set.
    #[serde(default)]
    pub key: Option<String>,
}

impl Witness {
    /// Everything wrong with the table, each with what to do about it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.endpoints.is_empty() {
            problems.push(
                "witness.endpoints is empty; list the etcd cluster's client URLs, e.g. [\"http://10.0.0.9:2379\"], or remove the [witness] table".into(),
            );
        }
        for endpoint in &self.endpoints {
            if let Err(why) = check_endpoint(endpoint) {
                problems.push(format!(
                    "witness.endpoints: {endpoint:?} {why}; write it as http://host:port, e.g. \"http://10.0.0.9:2379\""
                ));
            }
        }
        if let Some(key) = &self.key
            && key.trim().is_empty()
        {
            problems.push(
                "witness.key is empty; name the pair's key (e.g. \"duet/a-b/active\") or leave it out for the default".into(),
            );
        }
        problems
    }
}

/// An etcd client URL duet can use: `http`, a host, nothing else but a port
/// and a bare `/`.
fn check_endpoint(endpoint: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(endpoint).map_err(|_| "is not a URL")?;
    if url.scheme() != "http" {
        return Err("is not an http:// URL (TLS to etcd is not supported yet)");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries credentials, which duet does not send");
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err("has a path, query or fragment");
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Syntax { path: PathBuf, detail: String },
    #[error("{path}: {problems}")]
    Invalid { path: PathBuf, problems: String },
}

impl Bootstrap {
    /// Reads and checks a bootstrap file; relative paths in it are taken
    /// from the file's directory.
    pub fn load(path: &Path) -> Result<Bootstrap, BootstrapError> {
        let text = std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut boot: Bootstrap = toml::from_str(&text).map_err(|e| BootstrapError::Syntax {
            path: path.to_path_buf(),
            detail: e.message().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut boot.data_dir,
            &mut boot.tls.ca,
            &mut boot.tls.cert,
            &mut boot.tls.key,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        let certificates = [boot.http_tls.as_mut(), boot.smtp_tls.as_mut()]
            .into_iter()
            .flatten()
            .flat_map(|t| [t.cert.as_mut(), t.key.as_mut()]);
        let optional = [
            boot.params_file.as_mut(),
            boot.contact_center.session_key.as_mut(),
            boot.contact_center.webhook_secret.as_mut(),
        ]
        .into_iter()
        .chain(certificates);
        for p in optional
            .flatten()
            .chain(
                boot.reporting_databases
                    .iter_mut()
                    .filter_map(duet_report::Database::path_mut),
            )
            .filter(|p| p.is_relative())
        {
            *p = base.join(&*p);
        }
        let problems = boot.problems();
        if problems.is_empty() {
            Ok(boot)
        } else {
            Err(BootstrapError::Invalid {
                path: path.to_path_buf(),
                problems: problems.join("; "),
            })
        }
    }

    /// Everything wrong with the file, each with what to do about it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.server_a.name == self.server_b.name {
            problems.push(format!(
                "server_a and server_b are both named {:?}; give the two nodes different names",
                self.server_a.name
            ));
        }
        if self.this != self.server_a.name && self.this != self.server_b.name {
            problems.push(format!(
                "this = {:?} names neither node; set it to {:?} or {:?}",
                self.this, self.server_a.name, self.server_b.name
            ));
        }
        for node in [&self.server_a, &self.server_b] {
            let ports = [node.arbiter_port, node.link_port, node.http_port];
            if ports.contains(&0)
                || ports[0] == ports[1]
                || ports[1] == ports[2]
                || ports[0] == ports[2]
            {
                problems.push(format!(
                    "node {:?} needs three different non-zero ports (arbiter, link, http)",
                    node.name
                ));
            }
        }
        for (what, path) in [
            ("tls.ca", &self.tls.ca),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ] {
            if !path.is_file() {
                problems.push(format!(
                    "{what}: {} does not exist; create the pair's certificates with `duet certs init`",
                    path.display()
                ));
            }
        }
        if let Some(p) = &self.params_file {
            match std::fs::read_to_string(p) {
                Err(e) => problems.push(format!("params_file {}: {e}", p.display())),
                Ok(text) => {
                    if let Err(e) = duet_params::load_toml(&text) {
                        problems.push(format!("params_file {}: {e}", p.display()));
                    }
                }
            }
        }
        if let Some(witness) = &self.witness {
            problems.extend(witness.problems());
        }
        if self.users.iter().any(|u| u.password.len() < 8) {
            problems.push("every user needs a password of at least 8 characters".into());
        }
        problems.extend(self.limits.problems());
        for (table, t) in [("http_tls", &self.http_tls), ("smtp_tls", &self.smtp_tls)] {
            let Some(t) = t else { continue };
            if t.cert.is_some() != t.key.is_some() {
                problems.push(format!("{table}: give both cert and key, or neither (the node's pair certificate is used then)"));
            }
            let (cert, key) = t.files(&self.tls);
            for (what, path) in [("cert", cert), ("key", key)] {
                if !path.is_file() {
                    problems.push(format!("{table}.{what}: {} does not exist", path.display()));
                }
            }
        }
        problems
    }

    /// What works but should not stay as it is, each with what to do.
    pub fn warnings(&self) -> Vec<String> {
        self.users
            .iter()
            .filter(|u| !crate::passwords::is_hash(&u.password))
            .map(|u| {
                format!(
                    "user {:?} has a plain password in the bootstrap file; replace it with the hash `duet passwd` prints",
                    u.name
                )
            })
            .collect()
    }

    pub fn server_id(&self) -> ServerId {
        if self.this == self.server_a.name {
            ServerId::A
        } else {
            ServerId::B
        }
    }

    pub fn me(&self) -> &NodeEntry {
        match self.server_id() {
            ServerId::A => &self.server_a,
            ServerId::B => &self.server_b,
        }
    }

    pub fn peer(&self) -> &NodeEntry {
        match self.server_id() {
            ServerId::A => &self.server_b,
            ServerId::B => &self.server_a,
        }
    }

    pub fn http_listen_addr(&self) -> SocketAddr {
        let me = self.me();
        SocketAddr::new(self.http_listen.unwrap_or(me.address), me.http_port)
    }

    /// Where email intake listens: the HTTP API's address, the SMTP port.
    pub fn smtp_listen_addr(&self) -> SocketAddr {
        let me = self.me();
        SocketAddr::new(self.http_listen.unwrap_or(me.address), me.smtp_port)
    }

    pub fn release(&self) -> String {
        self.release
            .clone()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    }

    /// The witness key: the one the bootstrap names, or
    /// `duet/<server_a name>-<server_b name>/active`.
    pub fn witness_key(&self) -> Option<String> {
        let witness = self.witness.as_ref()?;
        Some(witness.key.clone().unwrap_or_else(|| {
            format!("duet/{}-{}/active", self.server_a.name, self.server_b.name)
        }))
    }

    pub fn modes(&self) -> StartupModes {
        StartupModes {
            force_backup: self.force_backup,
            manual_switch_only: self.manual_switch_only,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn witness(endpoints: &[&str], key: Option<&str>) -> Witness {
        Witness {
            endpoints: endpoints.iter().map(ToString::to_string).collect(),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn witness_endpoints_are_http_urls() {
        assert!(
            witness(&["http://10.0.0.9:2379", "http://etcd-2:2379/"], None)
                .problems()
                .is_empty()
        );
        let problems = witness(&[], None).problems();
        assert!(
            problems[0].contains("witness.endpoints is empty"),
            "{problems:?}"
        );
        for (bad, why) in [
            ("10.0.0.9:2379", "not a URL"),
            ("localhost:2379", "not an http:// URL"),
            ("https://10.0.0.9:2379", "not an http:// URL"),
            ("etcd", "not a URL"),
            ("http://10.0.0.9:2379/v3", "path"),
            ("http://u:p@10.0.0.9:2379", "credentials"),
        ] {
            let problems = witness(&[bad], None).problems();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].contains(why), "{bad}: {problems:?}");
            assert!(problems[0].contains("http://host:port"), "{problems:?}");
        }
        assert!(witness(&["http://e:2379"], Some(" ")).problems()[0].contains("witness.key"));
    }

    /// What every bootstrap file names.
    const NODE_A: &str = r#"
        this = "a"
        data_dir = "data"
        server_a = { name = "a", address = "10.0.0.1" }
        server_b = { name = "b", address = "10.0.0.2" }
        tls = { ca = "ca.pem", cert = "a.pem", key = "a.key" }
    "#;

    #[test]
    fn witness_table_reads_and_defaults_its_key() {
        let text = format!("{NODE_A}\n[witness]\nendpoints = [\"http://10.0.0.9:2379\"]\n");
        let mut boot: Bootstrap = toml::from_str(&text).expect("a bootstrap");
        assert_eq!(boot.witness_key().as_deref(), Some("duet/a-b/active"));
        boot.witness.as_mut().unwrap().key = Some("pair/x".into());
        assert_eq!(boot.witness_key().as_deref(), Some("pair/x"));
        boot.witness = None;
        assert_eq!(boot.witness_key(), None);
        assert!(toml::from_str::<Bootstrap>(&text.replace("endpoints", "endpoint")).is_err());
    }

    #[test]
    fn reporting_databases_are_paths_from_the_file_or_postgres_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        let text = format!(
            "{NODE_A}\nreporting_databases = [\"report.db\", \"postgres://duet:pw-9z@db.example/reports\"]\n"
        );
        std::fs::write(&path, &text).unwrap();
        for file in ["ca.pem", "a.pem", "a.key"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let boot = Bootstrap::load(&path).expect("a bootstrap");
        let shown: Vec<String> = boot
            .reporting_databases
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                dir.path().join("report.db").display().to_string(),
                "postgres://duet:***@db.example/reports".to_string()
            ]
        );
        std::fs::write(&path, text.replace("db.example/", "db.example:port/")).unwrap();
        let bad = Bootstrap::load(&path).unwrap_err().to_string();
        assert!(
            bad.contains("not a PostgreSQL URL") && !bad.contains("pw-9z"),
            "{bad}"
        );
    }
}
