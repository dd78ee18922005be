//! `duet passwd`: prints the argon2 hash of a password, to paste into a
//! bootstrap file's `password = "..."` in place of the plain password.

use std::io::BufRead;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    eprintln!("Type the password and press Enter (it is read from standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() < 8 {
        bail!("the password is shorter than 8 characters; choose a longer one");
    }
    println!("{}", duet_node::passwords::hash(password)?);
    Ok(())
}
