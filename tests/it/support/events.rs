//! A `tracing-subscriber` layer that records every event with its fields and the spans around
//! it, for tests that check what the crate logs.
//!
//! One global subscriber for the whole test binary, installed on first use, hands each event to
//! the recorder the current thread installed (tokio's current-thread runtime runs every task of
//! a test on the test's thread). A thread-local subscriber per test (`set_default`) would race
//! with callsites registered by tests on other threads and lose events.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One recorded event.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: String,
    pub level: Level,
    /// Every field, `message` included, as text (`Debug` for `?` fields, the value otherwise).
    pub fields: BTreeMap<String, String>,
    /// The names of the spans the event happened in, outermost first.
    pub spans: Vec<String>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// A log of events; clones share one log.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

thread_local! {
    /// The recorder of the test running on this thread, if it installed one.
    static CURRENT: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Uninstalls this thread's recorder when dropped.
pub struct Installed(Option<Recorder>);

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl Recorder {
    /// Records the events of this thread until the guard drops.
    pub fn install() -> (Self, Installed) {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            let subscriber = tracing_subscriber::registry().with(Dispatch);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the test binary");
        });
        let recorder = Self::default();
        let previous = CURRENT.with(|current| current.borrow_mut().replace(recorder.clone()));
        (recorder, Installed(previous))
    }

    pub fn events(&self) -> Vec<Recorded> {
        self.events.lock().unwrap().clone()
    }

    /// The events of one target.
    pub fn events_of(&self, target: &str) -> Vec<Recorded> {
        self.events()
            .into_iter()
            .filter(|event| event.target == target)
            .collect()
    }
}

/// The global layer: hands each event to the current thread's recorder.
struct Dispatch;

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> Layer<S> for Dispatch
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let Some(recorder) = CURRENT.with(|current| current.borrow().clone()) else {
            return;
        };
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let spans = context
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| span.name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        recorder.events.lock().unwrap().push(Recorded {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            spans,
        });
    }
}
