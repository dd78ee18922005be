//! `duet certs init`: the pair's certificate authority and node certificates.

use std::path::PathBuf;

use anyhow::bail;

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
    duet_node::local_pair::write_certs(&out, &nodes[0], &nodes[1])?;
    println!(
        "Wrote the pair's CA and certificates for {} and {} to {}.\nKeep {} secret: it can issue certificates the pair trusts.",
        nodes[0],
        nodes[1],
        out.display(),
        out.join("ca.key").display()
    );
    Ok(())
}
