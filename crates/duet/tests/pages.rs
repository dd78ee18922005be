//! The web pages in real browsers (headless Chromium and Firefox over
//! WebDriver; every browser test runs in each, as `chromium::…` and
//! `firefox::…`):
//! an agent signs in on the desktop, a customer chats through the widget,
//! the active node is killed (-9) mid-chat and both pages carry on with
//! nothing shown twice and no new sign-in; the control panel shows both
//! nodes and makes a switch; an email is shown sandboxed and answered;
//! the wall changes an agent's status; axe-core finds no serious
//! violation. Screenshots land in the target directory
//! (`pages/<browser>/`). Needs Debian's chromium, chromium-driver and
//! firefox-esr, and geckodriver (`DUET_SKIP_BROWSER=1`, or a browser's
//! name, skips the browser tests where they are missing). One test, without a browser,
//! checks what the nodes serve: pages with their policy, entity tags,
//! `GET /api/pair` and cross-origin answers.

mod browser;
mod harness;

use std::time::Duration;

use browser::{Browser, Kind};
use harness::{Pair, Setup, fast_params};
use serde_json::json;

const AGENT_PASSWORD: &str = "agent-password-1";
const WAIT: Duration = Duration::from_secs(30);

/// A started pair with the agent alice, the supervisor sue and the queue
/// Sales (offers ring a minute: a browser is slower than a program).
fn pair() -> Pair {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    for (name, roles) in [("alice", "agent"), ("sue", "supervisor")] {
        let (code, body) = pair.config_put(
            0,
            &format!("/config/Users/{name}"),
            "User",
            json!({ "roles": roles, "password": AGENT_PASSWORD, "capacity": "chat:3,email:5" }),
            None,
        );
        assert_eq!(code, 200, "{name}: {body}");
    }
    let (code, body) = pair.config_put(
        0,
        "/config/Workgroups/Sales",
        "Workgroup",
        json!({
            "strategy": "longest_idle",
            "alerting_timeout_s": "60",
            "max_no_answer": "0",
            "wrap_up_codes": "sale,no sale",
            "members": "alice",
            "addresses": "sales@example.test",
        }),
        None,
    );
    assert_eq!(code, 200, "Sales: {body}");
    pair
}

/// The lines a page shows (their message ids), and whether any shows twice.
fn lines_script(css: &str) -> String {
    format!("return [...document.querySelectorAll('{css}')].map(l => l.dataset.id);")
}

fn ids(value: serde_json::Value) -> Vec<String> {
    serde_json::from_value(value).expect("a list of ids")
}

fn shows(css: &str, text: &str) -> String {
    format!("[...document.querySelectorAll('{css}')].some(l => l.textContent.includes('{text}'))")
}

const AGENT_LINES: &str = "#work li.line";
const CUSTOMER_LINES: &str = ".duet-chat-log li";

/// A file to share in a chat, and its name.
fn file_to_share(prefix: &str, content: &[u8]) -> (tempfile::NamedTempFile, String) {
    let file = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".txt")
        .tempfile()
        .expect("a file to share");
    std::fs::write(file.path(), content).expect("write the file");
    let name = file
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name")
        .to_string();
    (file, name)
}

/// The customer starts a chat in the widget at `node` and says hello; the
/// agent accepts it and answers; each sees the other's line.
async fn chat_started(agent: &Browser, customer: &Browser, node: &str) {
    customer.goto(&format!("{node}/chat?queue=Sales")).await;
    customer
        .until(
            WAIT,
            "the widget",
            "document.getElementById('duet-chat-name') !== null",
        )
        .await;
    customer.type_into("#duet-chat-name", "Ann").await;
    customer.click(".duet-chat-start button").await;
    customer
        .until(
            WAIT,
            "the chat started",
            "!document.querySelector('.duet-chat-talk').hidden",
        )
        .await;
    customer_says(customer, "hello, my order is late").await;

    accept_offer(agent).await;
    agent
        .until(
            WAIT,
            "the customer's first line",
            &shows(AGENT_LINES, "hello, my order is late"),
        )
        .await;
    agent_says(agent, "sorry about that, let me look").await;
    customer
        .until(
            WAIT,
            "the agent's reply",
            &shows(CUSTOMER_LINES, "sorry about that, let me look"),
        )
        .await;
}

/// Waits for an offer on the desktop and accepts it.
async fn accept_offer(agent: &Browser) {
    agent
        .until(
            WAIT,
            "an offer",
            "document.querySelector('#offers .offer button') !== null",
        )
        .await;
    agent.click("#offers .offer button").await;
}

async fn agent_says(agent: &Browser, text: &str) {
    agent
        .type_into("#work .composer input:not([type=file])", text)
        .await;
    agent.click("#work .composer button[type=submit]").await;
}

async fn customer_says(customer: &Browser, text: &str) {
    customer.type_into("#duet-chat-input", text).await;
    customer.click(".duet-chat-talk button[type=submit]").await;
}

/// Signs alice in on the desktop at `node`, logs her in to chat and
/// email and makes her available; answers the session the page keeps.
async fn agent_ready(agent: &Browser, node: &str) -> serde_json::Value {
    agent.goto(&format!("{node}/agent")).await;
    agent
        .until(
            WAIT,
            "the sign-in ready",
            "!document.querySelector('#sign-in button').disabled",
        )
        .await;
    agent.type_into("#user", "alice").await;
    agent.type_into("#password", AGENT_PASSWORD).await;
    agent.click("#sign-in button[type=submit]").await;
    agent
        .until(
            WAIT,
            "the desktop after sign-in",
            "!document.getElementById('desk').hidden",
        )
        .await;
    agent.click("#log-in").await;
    agent
        .until(
            WAIT,
            "logged in to chat",
            "document.getElementById('my-status').textContent.includes('chat')",
        )
        .await;
    agent.click("#status-form button[type=submit]").await;
    agent
        .until(
            WAIT,
            "available",
            "document.getElementById('my-status').textContent.startsWith('Available')",
        )
        .await;
    agent
        .eval("return sessionStorage.getItem('duet.agent.session')")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_serves_the_pages_names_both_nodes_and_answers_the_pairs_origins() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let pair = pair();
    let urls = [pair.nodes[0].url(), pair.nodes[1].url()];
    let http = harness::api_agent();
    for (i, url) in urls.iter().enumerate() {
        for page in ["/", "/panel", "/agent", "/chat", "/wall"] {
            let answer = http.get(&format!("{url}{page}")).call().expect("a page");
            assert_eq!(answer.status(), 200, "{url}{page}");
            let policy = answer.headers()["content-security-policy"]
                .to_str()
                .unwrap_or_default();
            assert!(policy.contains("script-src 'self';"), "{policy}");
            assert!(
                urls.iter().all(|u| policy.contains(u.as_str())),
                "{page}: {policy}"
            );
        }
        // A script the browser holds is not sent again.
        let first = http
            .get(&format!("{url}/widget.js"))
            .call()
            .expect("the widget");
        let tag = first.headers()["etag"].to_str().expect("a tag").to_string();
        let again = http
            .get(&format!("{url}/widget.js"))
            .header("if-none-match", &tag)
            .call()
            .expect("the widget again");
        assert_eq!(again.status(), 304);
        let mut named = http
            .get(&format!("{url}/api/pair"))
            .call()
            .expect("the pair");
        let named: serde_json::Value = named.body_mut().read_json().expect("JSON");
        let names = ["a", "b"];
        assert_eq!(named["node"], names[i]);
        assert_eq!(named["nodes"][0]["url"], json!(url));
        assert_eq!(named["nodes"][1]["url"], json!(urls[1 - i]));
        // The other node's pages may call this one; another site may
        // start a chat but not act as an agent.
        let preflight = |origin: &str, path: &str| {
            http.options(&format!("{url}{path}"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .call()
                .expect("a preflight")
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or_default().to_string())
        };
        let other = &urls[1 - i];
        assert_eq!(
            preflight(other, "/api/agent/status").as_deref(),
            Some(other.as_str())
        );
        assert_eq!(
            preflight("https://shop.example", "/api/chats").as_deref(),
            Some("*")
        );
        assert_eq!(preflight("https://shop.example", "/api/agent/status"), None);
    }
    let document: serde_json::Value = http
        .get(&format!("{}/api/openapi.json", urls[0]))
        .call()
        .expect("the document")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert!(document["paths"]["/api/pair"]["get"].is_object());
}

/// These tests run one at a time: each starts a pair (and the browser
/// tests two or three Chromiums), their waits are timed, and ports are
/// chosen free before they are bound.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A browser test's turn, its pair and node a's address; none when the
/// tests in `kind` are skipped.
async fn start(kind: Kind) -> Option<(tokio::sync::MutexGuard<'static, ()>, Pair, String)> {
    if browser::skipped(kind) {
        return None;
    }
    let turn = ONE_AT_A_TIME.lock().await;
    let pair = pair();
    let a = pair.nodes[0].url();
    Some((turn, pair, a))
}

/// Each browser test in every browser: a module per browser with a test
/// per scenario, so `cargo test -p duet --test pages firefox` picks one.
macro_rules! in_browser {
    ($browser:ident = $kind:ident; $($scenario:ident),+ $(,)?) => {
        mod $browser {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Kind::$kind).await;
                }
            )+
        }
    };
}

macro_rules! in_every_browser {
    ($($scenario:ident),+ $(,)?) => {
        in_browser!(chromium = Chromium; $($scenario),+);
        in_browser!(firefox = Firefox; $($scenario),+);
    };
}

in_every_browser!(
    an_agent_and_a_customer_chat_in_their_pages_through_a_kill_of_the_active_node,
    the_control_panel_shows_both_nodes_and_switches_the_pair,
    an_email_is_shown_sandboxed_and_answered_and_the_wall_changes_an_agents_status,
    both_pages_leave_a_paused_active_node_for_the_new_one,
);

async fn an_agent_and_a_customer_chat_in_their_pages_through_a_kill_of_the_active_node(kind: Kind) {
    let Some((_turn, mut pair, a)) = start(kind).await else {
        return;
    };
    let agent = Browser::open(kind).await;
    let customer = Browser::open(kind).await;

    let session = agent_ready(&agent, &a).await;

    chat_started(&agent, &customer, &a).await;
    // A file from the agent reaches the customer as a line of its own.
    let (shared, file_name) = file_to_share("invoice-", b"invoice 42");
    agent
        .choose_file("#work .composer input[type=file]", shared.path())
        .await;
    agent.click("#work .composer button[type=button]").await;
    customer
        .until(WAIT, "the shared file", &shows(CUSTOMER_LINES, &file_name))
        .await;
    customer.screenshot("chat-widget").await;
    agent.screenshot("agent-desktop").await;
    customer.assert_accessible("the chat widget").await;
    agent.assert_accessible("the agent desktop").await;

    // Every notice the desktop shows from now on.
    agent
        .eval("window.notices = []; new MutationObserver(() => window.notices.push(document.getElementById('connection').textContent)).observe(document.getElementById('connection'), { childList: true, characterData: true, subtree: true }); return null;")
        .await;

    // The active node vanishes mid-chat.
    pair.nodes[0].kill9();
    pair.wait_until(WAIT, "b serving", |p| {
        harness::serving(&p.nodes[1].status())
    });
    let serving = std::time::Instant::now();
    customer_says(&customer, "are you still there?").await;
    agent
        .until(
            WAIT,
            "the customer's line after the kill",
            &shows(AGENT_LINES, "are you still there?"),
        )
        .await;
    let delay = serving.elapsed();
    assert!(
        delay < Duration::from_secs(10),
        "the customer's first line after the switchover took {delay:?} to reach the agent"
    );
    agent
        .until(
            WAIT,
            "the desktop on b",
            "document.getElementById('connection').textContent === 'connected to b'",
        )
        .await;
    let notices = agent.eval("return window.notices").await;
    assert!(
        notices
            .as_array()
            .is_some_and(|n| n.contains(&json!("reconnecting to b…"))),
        "the desktop did not say it was reconnecting: {notices}"
    );
    // A file from the customer, on the new active node.
    let (photo, photo_name) = file_to_share("parcel-", b"a picture of the parcel");
    customer.choose_file("#duet-chat-file", photo.path()).await;
    agent
        .until(
            WAIT,
            "the customer's file",
            &shows(AGENT_LINES, &photo_name),
        )
        .await;
    agent_says(&agent, "yes, it ships today").await;
    customer
        .until(
            WAIT,
            "the agent's reply after the kill",
            &shows(CUSTOMER_LINES, "yes, it ships today"),
        )
        .await;
    customer
        .until(WAIT, "every line of the customer acknowledged", "[...document.querySelectorAll('.duet-chat-log li.mine .tick')].every(t => t.textContent.startsWith('✓'))")
        .await;
    agent.screenshot("agent-desktop-after-kill").await;

    // Both pages show the same lines, each once; the agent never signed
    // in again.
    let customer_ids = ids(customer.eval(&lines_script(CUSTOMER_LINES)).await);
    let agent_ids = ids(agent.eval(&lines_script(AGENT_LINES)).await);
    for (who, shown) in [("customer", &customer_ids), ("agent", &agent_ids)] {
        let unique: std::collections::BTreeSet<_> = shown.iter().collect();
        assert_eq!(
            unique.len(),
            shown.len(),
            "the {who} sees a line twice: {shown:?}"
        );
    }
    let (mut c, mut g) = (customer_ids.clone(), agent_ids.clone());
    c.sort();
    g.sort();
    assert_eq!(c, g, "the two pages show different lines");
    assert_eq!(
        c.len(),
        7,
        "a status line, four messages and two files: {c:?}"
    );
    let hidden = agent
        .eval("return document.getElementById('sign-in').hidden")
        .await;
    assert_eq!(hidden, json!(true), "the desktop asked to sign in again");
    let kept = agent
        .eval("return sessionStorage.getItem('duet.agent.session')")
        .await;
    assert_eq!(kept, session, "the desktop signed in again");

    // The control panel, opened on the node that took over, tells why.
    let admin = Browser::open(kind).await;
    admin.goto(&format!("{}/", pair.nodes[1].url())).await;
    admin
        .until(WAIT, "b active with the last switch's reason", "document.querySelector('[aria-label=\"node b\"] .role')?.textContent === 'ACTIVE, serving' && document.querySelector('[aria-label=\"node a\"] .role')?.textContent === 'not answering' && !document.querySelector('[aria-label=\"node b\"]').textContent.includes('Last switch—')")
        .await;
    agent.close().await;
    customer.close().await;
    admin.close().await;
}

async fn the_control_panel_shows_both_nodes_and_switches_the_pair(kind: Kind) {
    let Some((_turn, pair, a)) = start(kind).await else {
        return;
    };
    let admin = Browser::open(kind).await;
    admin.goto(&format!("{a}/")).await;
    admin
        .until(WAIT, "a active and b backup", "document.querySelector('[aria-label=\"node a\"] .role')?.textContent === 'ACTIVE, serving' && document.querySelector('[aria-label=\"node b\"] .role')?.textContent === 'Backup'")
        .await;
    admin.eval("window.scrollTo(0, 0); return null;").await;
    admin.screenshot("control-panel").await;
    admin.assert_accessible("the control panel").await;
    admin
        .until(
            WAIT,
            "the switch ready",
            "!document.getElementById('switch').disabled",
        )
        .await;
    admin.type_into("#admin-user", harness::USER).await;
    admin.type_into("#admin-password", harness::PASSWORD).await;
    admin.click("#switch").await;
    admin
        .until(
            WAIT,
            "the confirmation",
            "document.getElementById('confirm').open",
        )
        .await;
    admin.click("#confirm-yes").await;
    admin
        .until(
            WAIT,
            "the switch asked",
            "document.getElementById('switch-result').textContent === 'b is switching.'",
        )
        .await;
    pair.wait_until(WAIT, "b serving", |p| {
        harness::serving(&p.nodes[1].status())
    });
    admin
        .until(WAIT, "b active in the panel, with the reason", "document.querySelector('[aria-label=\"node b\"] .role')?.textContent === 'ACTIVE, serving' && document.querySelector('[aria-label=\"node b\"]').textContent.includes('Last switch') && !document.querySelector('[aria-label=\"node b\"]').textContent.includes('Last switch—')")
        .await;
    admin
        .until(WAIT, "the switch in the merged log", "[...document.querySelectorAll('#log td')].some(td => td.textContent.includes('StatePrimary'))")
        .await;
    admin.eval("window.scrollTo(0, 0); return null;").await;
    admin.screenshot("control-panel-after-switch").await;
    admin.close().await;
}

async fn an_email_is_shown_sandboxed_and_answered_and_the_wall_changes_an_agents_status(
    kind: Kind,
) {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    use lettre::{Message, SmtpTransport, Transport};
    let Some((_turn, pair, a)) = start(kind).await else {
        return;
    };
    let agent = Browser::open(kind).await;
    agent_ready(&agent, &a).await;

    let message = Message::builder()
        .from("Dave <dave@customer.test>".parse().unwrap())
        .to("sales@example.test".parse().unwrap())
        .subject("Quote please")
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain("Please send a quote.".to_string()))
                        .singlepart(SinglePart::html(
                            "<p>Please send a <b>quote</b>.</p><script>document.title='owned'</script>".to_string(),
                        )),
                )
                .singlepart(Attachment::new("specs.txt".into()).body(b"the specs".to_vec(), ContentType::parse("text/plain").unwrap())),
        )
        .unwrap();
    let smtp = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(pair.nodes[0].placement.smtp_port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    smtp.send(&message)
        .expect("the active node takes the email");

    accept_offer(&agent).await;
    agent
        .until(
            WAIT,
            "the email shown",
            "document.querySelector('#work iframe.email') !== null",
        )
        .await;
    // The customer's HTML, sanitised, in a sandbox that runs no script
    // and cannot reach the page.
    let frame = agent
        .eval("const f = document.querySelector('#work iframe.email'); return [f.getAttribute('sandbox'), f.srcdoc.includes('quote'), f.srcdoc.includes('<script'), f.contentDocument === null, document.title];")
        .await;
    assert_eq!(frame, json!(["", true, false, true, "duet: agent desktop"]));
    agent
        .until(
            WAIT,
            "the attachment listed",
            "document.querySelector('#work').textContent.includes('specs.txt')",
        )
        .await;
    // Held, then resumed.
    agent.click("#work .actions button:nth-child(1)").await;
    agent
        .until(
            WAIT,
            "the email held",
            "document.querySelector('#work .state').textContent.startsWith('Held')",
        )
        .await;
    agent.click("#work .actions button:nth-child(2)").await;
    agent
        .until(
            WAIT,
            "the email resumed",
            "document.querySelector('#work .state').textContent.startsWith('Connected')",
        )
        .await;
    agent
        .type_into("#work .composer textarea", "Here is your quote: 42 EUR.")
        .await;
    // A file attached as a person picks one: stored first, then named by
    // the draft.
    agent
        .eval("const t = new DataTransfer(); t.items.add(new File(['42 EUR, all in'], 'quote.txt', { type: 'text/plain' })); document.querySelector('#work .composer input[type=file]').files = t.files; return true;")
        .await;
    agent.click("#work .composer button[type=submit]").await;
    agent
        .until(
            WAIT,
            "the reply sent with its attachment",
            "document.querySelector('#work').textContent.includes('Reply Sent: Here is your quote: 42 EUR. (attached: quote.txt)')",
        )
        .await;
    agent.screenshot("agent-email").await;
    agent
        .assert_accessible("the agent desktop with an email")
        .await;
    // Ended, wrapped up with one of the queue's codes and a note, gone.
    agent.click("#work .actions button:nth-child(3)").await;
    agent
        .until(
            WAIT,
            "the wrap-up with the queue's codes",
            "[...document.querySelectorAll('#work .wrap-up:not([hidden]) option')].map(o => o.value).join() === 'sale,no sale'",
        )
        .await;
    agent
        .type_into("#work .wrap-up textarea", "sent the quote")
        .await;
    agent.click("#work .wrap-up button[type=submit]").await;
    agent
        .until(
            WAIT,
            "nothing in hand after the wrap-up",
            "document.getElementById('tabs').textContent === 'Nothing in hand.'",
        )
        .await;

    let supervisor = Browser::open(kind).await;
    supervisor.goto(&format!("{a}/wall")).await;
    supervisor
        .until(
            WAIT,
            "the sign-in ready",
            "!document.querySelector('#sign-in button').disabled",
        )
        .await;
    supervisor.type_into("#user", "sue").await;
    supervisor.type_into("#password", AGENT_PASSWORD).await;
    supervisor.click("#sign-in button[type=submit]").await;
    supervisor
        .until(WAIT, "the queue and the agent", "document.querySelector('#queues').textContent.includes('Sales') && document.querySelector('#agents').textContent.includes('alice')")
        .await;
    supervisor
        .until(
            WAIT,
            "a chart of today's intervals",
            "document.querySelector('#charts svg rect') !== null",
        )
        .await;
    supervisor
        .eval("document.querySelector('#agents select').value = 'not_ready'; return null;")
        .await;
    supervisor.type_into("#agents input", "coaching").await;
    supervisor.click("#agents button").await;
    supervisor
        .until(
            WAIT,
            "alice not ready on the wall",
            "document.querySelector('#agents').textContent.includes('NotReady (coaching)')",
        )
        .await;
    agent
        .until(
            WAIT,
            "the desktop told",
            "document.getElementById('my-status').textContent.includes('coaching')",
        )
        .await;
    supervisor.screenshot("supervisor-wall").await;
    supervisor.assert_accessible("the supervisor wall").await;
    agent.close().await;
    supervisor.close().await;
}

async fn both_pages_leave_a_paused_active_node_for_the_new_one(kind: Kind) {
    let Some((_turn, pair, a)) = start(kind).await else {
        return;
    };
    let agent = Browser::open(kind).await;
    let customer = Browser::open(kind).await;
    agent_ready(&agent, &a).await;
    chat_started(&agent, &customer, &a).await;

    // A paused process answers nothing and closes nothing: the pages must
    // find out by themselves.
    pair.nodes[0].signal("STOP");
    pair.wait_until(WAIT, "b serving", |p| {
        harness::serving(&p.nodes[1].status())
    });
    customer_says(&customer, "hello again").await;
    agent
        .until(
            WAIT,
            "the line sent while a is paused",
            &shows(AGENT_LINES, "hello again"),
        )
        .await;
    agent
        .until(
            WAIT,
            "the desktop on b",
            "document.getElementById('connection').textContent === 'connected to b'",
        )
        .await;
    agent_says(&agent, "welcome back").await;
    customer
        .until(
            WAIT,
            "the reply from b",
            &shows(CUSTOMER_LINES, "welcome back"),
        )
        .await;
    pair.nodes[0].signal("CONT");
    agent.close().await;
    customer.close().await;
}
