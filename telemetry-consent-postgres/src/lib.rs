//! A consent store on PostgreSQL that the replicas of a service share, for
//! `telemetry-core`'s [`shared_consent_store`]: PostgreSQL is the system
//! of record for every subject's choices, and each replica caches them.
//!
//! ```no_run
//! use std::time::Duration;
//! use telemetry_consent_postgres::PostgresConsentStore;
//! use telemetry_core::{ConsentPolicy, KeyId, Telemetry};
//!
//! let store = PostgresConsentStore::connect("postgres://app:secret@db:5432/app")?;
//! let telemetry = Telemetry::builder()
//!     .service("checkout", "1.4.2")
//!     .hash_key(KeyId(1), std::env::var("TELEMETRY_HASH_KEY")?)
//!     .consent(ConsentPolicy::opt_in())
//!     .shared_consent_store(store)
//!     .max_staleness(Duration::from_secs(2))
//!     .build()?;
//! let receipt = telemetry.consent().revoke("user-42", telemetry_core::Category::BUSINESS)?;
//! // For an erasure confirmed to the person: every live replica applied it.
//! telemetry.consent().wait_applied(&receipt, Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What it keeps, in its own schema (`telemetry_consent` by default, created
//! and migrated by the store itself; versioned, safe when replicas start at
//! the same moment; a schema written by a newer version is refused):
//!
//! - `subjects`: the choices per pseudonymous subject key (never a raw id);
//! - `changes`: every change, numbered in commit order without gaps;
//! - `audit`: one row per category whose recorded choice changed (subject
//!   key, category, old and new choice, source, policy version, time,
//!   replica);
//! - `outbox`: deletion requests until the replica that made them (or, if
//!   it stopped first, another one) delivered them to every exporter;
//! - `replicas`: each live replica's heartbeat and the last change it
//!   applied, for [`Consent::wait_applied`].
//!
//! How a replica follows: a connection `LISTEN`s for new changes and reads
//! the change log after its position (so a notification missed while
//! disconnected is never lost), every poll interval (250 ms) at the
//! latest; each read confirms the view. The core refuses every category
//! that requires consent on a replica whose view is older than
//! `max_staleness`, and resumes by itself once the database is back.
//!
//! The store's threads (feed and loader) and its calls use the
//! synchronous `postgres` client on connections of their own, so it works
//! in services with or without an async runtime. Connections are plain
//! TCP: run the database on a private network or behind a TLS-terminating
//! proxy (see `docs/fleet-consent.md`).
//!
//! No cargo features.
//!
//! [`shared_consent_store`]: telemetry_core::TelemetryBuilder::shared_consent_store
//! [`Consent::wait_applied`]: telemetry_core::consent::Consent::wait_applied

mod blocking;
mod feed;
mod loader;
mod rows;
mod schema;
mod settings;
mod writes;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use postgres::Client;
use telemetry_core::ConsentError;
use telemetry_core::consent::shared::{
    ChangeId, Committed, Feed, FleetAck, OutboxEntry, OutboxId, SharedConsentStore, StoreChange,
    Stored, StoredChange,
};
use telemetry_core::export::SubjectKey;

pub use schema::SCHEMA_VERSION;

use loader::Job;
use settings::Settings;
use writes::Failure;

/// Configures a [`PostgresConsentStore`]. Its `Debug` output never shows
/// the connection string (it may hold a password).
#[must_use = "call .build() to connect"]
pub struct PostgresConsentStoreBuilder {
    url: String,
    schema: String,
    replica: Option<String>,
    connect_timeout: Duration,
    statement_timeout: Duration,
    poll_interval: Duration,
    heartbeat: Duration,
    liveness: Duration,
    load_queue: usize,
    outbox_lease: Duration,
}

impl std::fmt::Debug for PostgresConsentStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConsentStoreBuilder")
            .field("schema", &self.schema)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl PostgresConsentStoreBuilder {
    /// The schema the store keeps its tables in (default
    /// `telemetry_consent`): lower-case letters, digits and `_`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// This replica's name in the acknowledgement table (default: the
    /// resource's `service.instance.id`, else host name, process id and a
    /// random suffix). Give each replica its own.
    pub fn replica(mut self, name: impl Into<String>) -> Self {
        self.replica = Some(name.into());
        self
    }

    /// Longest wait for a connection (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest a statement may run (default 5 s); a grant or revocation
    /// waits at most about this long for the database.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How often the feed reads the change log when no notification came
    /// (default 250 ms). Keep it well under the core's `max_staleness`.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long after its last heartbeat a replica still counts as live
    /// for [`wait_applied`](SharedConsentStore::wait_applied) (default 5 s;
    /// replicas beat every second).
    pub fn liveness(mut self, window: Duration) -> Self {
        self.liveness = window;
        self
    }

    /// How long a replica holds an undelivered deletion request before
    /// another may send it (default 5 minutes).
    pub fn outbox_lease(mut self, lease: Duration) -> Self {
        self.outbox_lease = lease;
        self
    }

    /// Parses the settings, connects, and creates or migrates the schema.
    /// A malformed connection string, an unreachable server, failed
    /// authentication, missing permissions or a schema written by a newer
    /// version are errors that say what to fix.
    pub fn build(self) -> Result<PostgresConsentStore, ConsentError> {
        settings::check_schema(&self.schema)?;
        let config = settings::parse_url(&self.url)?;
        for (what, d) in [
            ("connect_timeout", self.connect_timeout),
            ("statement_timeout", self.statement_timeout),
            ("poll_interval", self.poll_interval),
            ("liveness", self.liveness),
            ("outbox_lease", self.outbox_lease),
        ] {
            if d.is_zero() {
                return Err(ConsentError::new(format!(
                    "{what} is zero; use a positive duration"
                )));
            }
        }
        let settings = Settings {
            config,
            schema: self.schema,
            replica: self.replica,
            connect_timeout: self.connect_timeout,
            statement_timeout: self.statement_timeout,
            poll_interval: self.poll_interval,
            heartbeat: self.heartbeat,
            liveness: self.liveness,
            load_queue: self.load_queue,
            outbox_lease: self.outbox_lease,
        };
        let default_name = settings.replica.clone().unwrap_or_else(generated_name);
        let client = blocking::off_runtime(|| {
            let mut client = settings.connect()?;
            schema::migrate(&mut client, &settings, &default_name)?;
            Ok(client)
        })?;
        Ok(PostgresConsentStore {
            shared: Arc::new(Shared {
                settings,
                default_name,
                replica: OnceLock::new(),
                conn: Mutex::new(Some((client, Instant::now()))),
                jobs: OnceLock::new(),
                stopping: AtomicBool::new(false),
                status: Counters::default(),
            }),
        })
    }
}

/// A replica name when none is given: host, process id, random suffix.
fn generated_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}-{}-{:04x}", std::process::id(), nanos & 0xffff)
}

/// What the threads and calls of one store share.
pub(crate) struct Shared {
    settings: Settings,
    default_name: String,
    replica: OnceLock<String>,
    /// The connection for commits, direct loads and the other calls, with
    /// when it was last used.
    conn: Mutex<Option<(Client, Instant)>>,
    jobs: OnceLock<SyncSender<Job>>,
    stopping: AtomicBool,
    status: Counters,
}

#[derive(Default)]
struct Counters {
    connected: AtomicBool,
    reconnects: AtomicU64,
    malformed_rows: AtomicU64,
    applied: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    /// Remembers the feed's latest failure (for [`StoreStatus`]).
    pub(crate) fn failed(&self, e: impl std::fmt::Display) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(e.to_string());
        }
    }
}

/// The call connection is closed off any runtime: the last handle to a
/// store may go away inside async code (see `blocking.rs`).
impl Drop for Shared {
    fn drop(&mut self) {
        let conn = self
            .conn
            .get_mut()
            .map_or_else(|p| p.into_inner().take(), Option::take);
        if let Some(conn) = conn {
            let _ = blocking::off_runtime(move || {
                drop(conn);
                Ok(())
            });
        }
    }
}

impl Shared {
    /// This replica's name.
    pub(crate) fn replica(&self) -> &str {
        self.replica.get().unwrap_or(&self.default_name)
    }

    fn lock_conn(&self) -> MutexGuard<'_, Option<(Client, Instant)>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the call connection: reconnects if there is none, and
    /// checks one idle for more than 5 s first (the server may have
    /// restarted). A failure drops the connection; the next call connects
    /// again.
    fn with_conn<T: Send>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut Client) -> Result<T, Failure> + Send,
    ) -> Result<T, ConsentError> {
        blocking::off_runtime(|| self.with_conn_here(doing, f))
    }

    fn with_conn_here<T>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, ConsentError> {
        let mut guard = self.lock_conn();
        if let Some((client, last)) = guard.as_mut()
            && last.elapsed() > Duration::from_secs(5)
            && client.is_valid(self.settings.connect_timeout).is_err()
        {
            *guard = None;
        }
        if guard.is_none() {
            *guard = Some((self.settings.connect()?, Instant::now()));
        }
        let Some((client, last)) = guard.as_mut() else {
            return Err(ConsentError::new("no connection to the consent database"));
        };
        *last = Instant::now();
        match f(client) {
            Ok(v) => Ok(v),
            Err(Failure::Db(e)) => {
                if e.as_db_error().is_none() {
                    *guard = None;
                }
                Err(self.settings.describe(doing, &e))
            }
            Err(Failure::Row(what)) => {
                self.status.malformed_rows.fetch_add(1, Ordering::Relaxed);
                Err(ConsentError::new(format!(
                    "{doing}: the database returned a malformed {what}"
                )))
            }
        }
    }
}

/// A consent store on PostgreSQL shared by the replicas of a service (see
/// the [crate documentation](crate)). Give one to each telemetry instance:
/// [`TelemetryBuilder::shared_consent_store`](telemetry_core::TelemetryBuilder::shared_consent_store).
/// Clones are
/// the same store (keep one to read its [`status`](Self::status)).
#[derive(Clone)]
pub struct PostgresConsentStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PostgresConsentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConsentStore")
            .field("server", &self.shared.settings.server())
            .field("schema", &self.shared.settings.schema)
            .field("replica", &self.shared.replica())
            .finish_non_exhaustive()
    }
}

/// What a store's threads report (see [`PostgresConsentStore::status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    /// This replica's name.
    pub replica: String,
    /// Whether the feed's last read of the change log succeeded.
    pub connected: bool,
    /// Times the feed connected again after losing its connection.
    pub reconnects: u64,
    /// The last change the feed applied.
    pub applied: ChangeId,
    /// Rows that did not decode (a store written by something else).
    pub malformed_rows: u64,
    /// The feed's latest failure, if any (never holds the password).
    pub last_error: Option<String>,
}

impl PostgresConsentStore {
    /// Starts configuring a store for `url`
    /// (`postgres://user:password@host:port/database`).
    pub fn builder(url: impl Into<String>) -> PostgresConsentStoreBuilder {
        PostgresConsentStoreBuilder {
            url: url.into(),
            schema: "telemetry_consent".to_owned(),
            replica: None,
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(250),
            heartbeat: Duration::from_secs(1),
            liveness: Duration::from_secs(5),
            load_queue: 65_536,
            outbox_lease: Duration::from_secs(300),
        }
    }

    /// Connects with the default settings (see
    /// [`PostgresConsentStoreBuilder::build`]).
    pub fn connect(url: impl Into<String>) -> Result<Self, ConsentError> {
        Self::builder(url).build()
    }

    /// What the store's threads report.
    pub fn status(&self) -> StoreStatus {
        let s = &self.shared.status;
        StoreStatus {
            replica: self.shared.replica().to_owned(),
            connected: s.connected.load(Ordering::SeqCst),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            applied: ChangeId(s.applied.load(Ordering::SeqCst)),
            malformed_rows: s.malformed_rows.load(Ordering::Relaxed),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// [`SharedConsentStore::start`], on a thread outside any runtime.
    fn start_here(&self, feed: Feed) -> Result<(), ConsentError> {
        let shared = &self.shared;
        let name = shared
            .settings
            .replica
            .clone()
            .or_else(|| feed.service_instance_id().map(str::to_owned))
            .unwrap_or_else(|| shared.default_name.clone());
        if shared.replica.set(name).is_err() {
            return Err(ConsentError::new(
                "this PostgresConsentStore is already started; give each telemetry instance its \
                 own store",
            ));
        }
        // Listen first, then read the position: nothing committed between
        // the two is missed.
        let mut client = feed::listen(shared)?;
        let position = feed::latest(shared, &mut client)?;
        // Registered before `start` returns, so `wait_applied` elsewhere
        // waits for this replica from now on.
        feed::heartbeat(shared, &mut client, position)
            .map_err(|e| shared.settings.describe("cannot register this replica", &e))?;
        feed.confirm(
            ChangeId(u64::try_from(position).unwrap_or(0)),
            Instant::now(),
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(shared.settings.load_queue);
        let _ = shared.jobs.set(tx);
        let (s, f) = (Arc::clone(shared), feed.clone());
        std::thread::Builder::new()
            .name("consent-pg-feed".into())
            .spawn(move || feed::run(&s, &f, client, position))
            .map_err(|e| ConsentError::new(format!("cannot start the feed thread: {e}")))?;
        let s = Arc::clone(shared);
        std::thread::Builder::new()
            .name("consent-pg-loader".into())
            .spawn(move || loader::run(&s, &feed, &rx))
            .map_err(|e| ConsentError::new(format!("cannot start the loader thread: {e}")))?;
        Ok(())
    }
}

impl SharedConsentStore for PostgresConsentStore {
    fn start(&self, feed: Feed) -> Result<(), ConsentError> {
        blocking::off_runtime(|| self.start_here(feed))
    }

    fn request_load(&self, subject: SubjectKey) -> bool {
        match self.shared.jobs.get() {
            Some(jobs) => match jobs.try_send(Job::Load(subject)) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        }
    }

    fn load(&self, subject: SubjectKey, timeout: Duration) -> Result<Stored, ConsentError> {
        let settings = &self.shared.settings;
        self.shared
            .with_conn("cannot load a subject's consent", |c| {
                let mut tx = c.transaction()?;
                tx.batch_execute(&format!(
                    "SET LOCAL statement_timeout = {}",
                    timeout.as_millis().max(1)
                ))?;
                let found = writes::load(&mut tx, settings, &[subject])?;
                tx.commit()?;
                Ok(found.first().map(|(_, stored)| *stored).unwrap_or_default())
            })
    }

    fn history(
        &self,
        subject: SubjectKey,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<Vec<StoredChange>>, ConsentError> {
        let settings = &self.shared.settings;
        self.shared
            .with_conn("cannot read a subject's consent history", |c| {
                let mut tx = c.transaction()?;
                tx.batch_execute(&format!(
                    "SET LOCAL statement_timeout = {}",
                    timeout.as_millis().max(1)
                ))?;
                let found = writes::history(&mut tx, settings, subject, limit)?;
                tx.commit()?;
                Ok(Some(found))
            })
    }

    fn commit(&self, change: &StoreChange<'_>) -> Result<Committed, ConsentError> {
        let shared = &self.shared;
        shared.with_conn("cannot commit a consent change", |c| {
            writes::commit(c, &shared.settings, shared.replica(), change)
        })
    }

    fn wait_applied(&self, change: ChangeId, timeout: Duration) -> Result<FleetAck, ConsentError> {
        let shared = &self.shared;
        let deadline = Instant::now() + timeout;
        match shared.with_conn("cannot read the replicas' acknowledgements", |c| {
            writes::wait_applied(c, &shared.settings, change, deadline)
        })? {
            Ok(ack) => Ok(ack),
            Err((lagging, live)) => Err(ConsentError::new(format!(
                "{lagging} of {live} live replicas have not applied change {} within {timeout:?}; \
                 a replica that cannot reach the database refuses the categories that need \
                 consent once its view is older than max_staleness",
                change.0
            ))),
        }
    }

    fn claim_undelivered(&self) -> Result<Vec<OutboxEntry>, ConsentError> {
        let shared = &self.shared;
        shared.with_conn("cannot claim undelivered deletion requests", |c| {
            writes::claim(c, &shared.settings, shared.replica())
        })
    }

    fn delivered(&self, outbox: OutboxId) {
        if let Some(jobs) = self.shared.jobs.get() {
            // Not taken (the queue is full): the entry stays claimed until
            // its lease ends, then it is sent again.
            let _ = jobs.try_send(Job::Delivered(outbox));
        }
    }

    fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }
}
