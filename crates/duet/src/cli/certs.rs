//! `duet certs init`: the pair's certificate authority and node certificates.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create the pair's certificate authority (ca.pem) and a certificate and
    /// key per node (NAME.pem, NAME.key) in a new directory.
    Init {
        /// Where to write the files; must not exist yet or be empty.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The two nodes' names, as in the bootstrap files.
        #[arg(long, value_delimiter = ',', default_values_t = ["a".to_string(), "b".to_string()])]
        nodes: Vec<String>,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let Command::Init { out, nodes } = command;
    if nodes.len() != 2 || nodes[0] == nodes[1] {
        bail!("a pair has two nodes with different names, e.g. --nodes a,b");
    }
    write_pair(&out, &nodes[0], &nodes[1])?;
    println!(
        "Wrote the pair's CA and certificates for {} and {} to {}.\nKeep {} secret: it can issue certificates the pair trusts.",
        nodes[0],
        nodes[1],
        out.display(),
        out.join("ca.key").display()
    );
    Ok(())
}

/// Writes ca.pem, ca.key and NAME.pem/NAME.key for both nodes; keys are
/// readable by the owner only.
pub fn write_pair(out: &Path, a: &str, b: &str) -> anyhow::Result<()> {
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
    Ok(())
}
