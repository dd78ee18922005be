//! Writes everything a pair needs into a directory: the pair's certificates
//! (`certs/`), a parameter file and one bootstrap file per node. Used by
//! `duet certs init`, `duet demo` and the process tests.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::bootstrap::{
    Bootstrap, ContactCenter, FaultInjection, Hooks, NodeEntry, TlsPaths, User, Witness,
};

/// Writes ca.pem, ca.key and NAME.pem/NAME.key for both nodes into `out`
/// (which must be new or empty), and the contact center's shared secrets
/// (session.key, webhook.key: 32 random bytes each, hex); keys are
/// readable by the owner only.
pub fn write_certs(out: &Path, a: &str, b: &str) -> anyhow::Result<()> {
    if out.exists()
        && out
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty; choose a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let pki = duet_link::pki::create_pair(&format!("{a}-{b}"), &[a, b])?;
    let write = |name: String, text: &str, secret: bool| -> anyhow::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if secret {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    };
    write("ca.pem".into(), &pki.ca.cert_pem, false)?;
    write("ca.key".into(), &pki.ca.key_pem, true)?;
    for (name, issued) in &pki.nodes {
        write(format!("{name}.pem"), &issued.cert_pem, false)?;
        write(format!("{name}.key"), &issued.key_pem, true)?;
    }
    for secret in ["session.key", "webhook.key"] {
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write(secret.into(), &hex, true)?;
    }
    Ok(())
}

/// One node of a pair to write.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub address: IpAddr,
    pub arbiter_port: u16,
    pub link_port: u16,
    pub http_port: u16,
    pub smtp_port: u16,
    pub http_listen: Option<IpAddr>,
    pub release: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PairSpec {
    pub nodes: [NodeSpec; 2],
    /// The server parameter file's text (TOML).
    pub params_toml: String,
    pub users: Vec<User>,
    pub fault_injection: bool,
    pub hooks: Hooks,
    /// The `[witness]` table both bootstrap files get.
    pub witness: Option<Witness>,
    /// The `[limits]` table both bootstrap files get.
    pub limits: crate::limits::Limits,
    /// The reporting databases both nodes read for `GET /api/reports/...`.
    pub reporting_databases: Vec<duet_report::Database>,
}

impl NodeSpec {
    fn entry(&self) -> NodeEntry {
        NodeEntry {
            name: self.name.clone(),
            address: self.address,
            arbiter_port: self.arbiter_port,
            link_port: self.link_port,
            http_port: self.http_port,
            smtp_port: self.smtp_port,
        }
    }
}

/// Writes certificates, `params.toml` and `NAME.toml` bootstrap files into
/// `dir`; returns the bootstrap files' paths (a, b).
pub fn write(dir: &Path, spec: &PairSpec) -> anyhow::Result<[PathBuf; 2]> {
    let [a, b] = &spec.nodes;
    write_certs(&dir.join("certs"), &a.name, &b.name)?;
    std::fs::write(dir.join("params.toml"), &spec.params_toml)?;
    let mut paths = Vec::new();
    for node in [a, b] {
        let boot = Bootstrap {
            this: node.name.clone(),
            server_a: a.entry(),
            server_b: b.entry(),
            data_dir: PathBuf::from(format!("data-{}", node.name)),
            tls: TlsPaths {
                ca: "certs/ca.pem".into(),
                cert: format!("certs/{}.pem", node.name).into(),
                key: format!("certs/{}.key", node.name).into(),
            },
            users: spec.users.clone(),
            http_listen: node.http_listen,
            params_file: Some("params.toml".into()),
            release: node.release.clone(),
            force_backup: false,
            manual_switch_only: false,
            fault_injection: FaultInjection {
                enabled: spec.fault_injection,
            },
            hooks: spec.hooks.clone(),
            witness: spec.witness.clone(),
            limits: spec.limits.clone(),
            http_tls: None,
            smtp_tls: None,
            nice: crate::bootstrap::DEFAULT_NICE,
            reporting_databases: spec.reporting_databases.clone(),
            contact_center: ContactCenter {
                session_key: Some("certs/session.key".into()),
                webhook_secret: Some("certs/webhook.key".into()),
                ..ContactCenter::default()
            },
        };
        let path = dir.join(format!("{}.toml", node.name));
        // It names the users and their passwords.
        std::io::Write::write_all(
            &mut crate::private::create(&path)?,
            toml::to_string(&boot)?.as_bytes(),
        )?;
        paths.push(path);
    }
    Ok([paths[0].clone(), paths[1].clone()])
}

/// Where chosen ports come from: below the kernel's ephemeral range, so
/// no outgoing connection or `bind(0)` of another process takes one
/// between its choice and its use.
fn port_range() -> std::ops::Range<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    20_000..low.max(20_001)
}

/// Claims `port` for this process against other processes choosing
/// ports the same way (test binaries run side by side; a node killed and
/// started again needs its ports kept meanwhile): a file of its own in
/// the temporary directory naming this process, taken over only once the
/// process it names is gone.
fn claim(port: u16) -> bool {
    let path = std::env::temp_dir().join(format!("duet-port-{port}"));
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, std::process::id().to_string().as_bytes())
            })
            .is_ok()
    };
    if create() {
        return true;
    }
    let owner = std::fs::read_to_string(&path).ok();
    let owner_alive = match owner.as_deref().map(str::trim) {
        None => false,
        // Being written by its taker.
        Some("") => true,
        Some(pid) => pid
            .parse::<u32>()
            .ok()
            .is_none_or(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists()),
    };
    if owner_alive {
        return false;
    }
    // Of two takers of a claim whose process is gone, one creates it.
    let _ = std::fs::remove_file(&path);
    create()
}

/// `N` different free TCP ports on `address`: below the ephemeral range,
/// never one this process handed out before (tests in one process run
/// side by side) nor one a living process claimed (`claim`), and
/// each bindable when chosen.
pub fn free_ports<const N: usize>(address: IpAddr) -> std::io::Result<[u16; N]> {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let range = port_range();
    let span = u32::from(range.end - range.start);
    let mut handed_out = HANDED_OUT
        .lock()
        .map_err(|_| std::io::Error::other("the port list is poisoned"))?;
    let start: u32 = rand::random::<u32>() % span;
    let mut ports = [0; N];
    let mut held = Vec::new();
    let mut found = 0;
    for i in 0..span {
        if found == N {
            break;
        }
        let port = range.start + ((start + i) % span) as u16;
        if handed_out.contains(&port) {
            continue;
        }
        if let Ok(listener) = std::net::TcpListener::bind((address, port))
            && claim(port)
        {
            held.push(listener);
            ports[found] = port;
            found += 1;
        }
    }
    if found < N {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("only {found} of {N} free ports on {address} in {range:?}"),
        ));
    }
    handed_out.extend(ports);
    Ok(ports)
}
