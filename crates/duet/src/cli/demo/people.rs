//! The people a newcomer plays in the demo: the pages' addresses, and an
//! agent of their own in the generated customers' queue, so a person can
//! take chats in a desktop while the generated agents work beside them.

use std::sync::Arc;

use duet_client::directory::{self, User};
use duet_client::http::{Auth, Client};
use duet_client::nodes::{Nodes, Retry};

pub const PERSON: &str = "you";
pub const PERSON_PASSWORD: &str = "demo-agent";

pub fn print_pages(urls: &[String; 2], admin: &str, admin_password: &str) {
    let a = &urls[0];
    println!("Pages (each node serves them; b's are at {}):", urls[1]);
    println!("  control panel:    {a}/");
    println!("  agent desktop:    {a}/agent   (sign in as {PERSON} / {PERSON_PASSWORD})");
    println!("  chat widget demo: {a}/chat");
    println!("  supervisor wall:  {a}/wall    (sign in as {admin} / {admin_password})");
}

/// Makes the person's agent and adds it to `queue` (which the load made).
pub fn add_person(
    urls: &[String; 2],
    queue: &str,
    admin: &str,
    admin_password: &str,
) -> anyhow::Result<()> {
    let client = Client::new(Arc::new(Nodes::new(urls.clone())?), Retry::default());
    let admin = Auth::Basic {
        user: admin.into(),
        password: admin_password.into(),
    };
    let person = User {
        name: PERSON.into(),
        roles: "agent".into(),
        password: PERSON_PASSWORD.into(),
        skills: "load:5".into(),
        capacity: "chat:3,email:5,callback:1".into(),
    };
    directory::put_user(&client, &admin, &person)?;
    let path = format!("/config/Workgroups/{queue}");
    let Some(mut queue) = directory::get(&client, &admin, &path)? else {
        anyhow::bail!("no queue {path} to add {PERSON} to");
    };
    let members = queue.get("members").cloned().unwrap_or_default();
    let member = |m: &str| m.trim().split(':').next() == Some(PERSON);
    if !members.split(',').any(member) {
        queue.insert("members".into(), format!("{members},{PERSON}"));
        directory::put(&client, &admin, &path, "Workgroup", queue)?;
    }
    Ok(())
}
