//! A `tracing-subscriber` layer that records every event with its fields and the spans around
//! it, for tests that check what the crate logs. Include it with
//! `#[path = "support/events.rs"] mod events;`.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

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

/// The recording layer; clones share one log.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    /// Installs a recorder as the default subscriber of this thread until the guard drops. With
    /// tokio's current-thread runtime, that covers every task the test spawns.
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let recorder = Self::default();
        let subscriber = tracing_subscriber::registry().with(recorder.clone());
        (recorder, tracing::subscriber::set_default(subscriber))
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

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
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
        self.events.lock().unwrap().push(Recorded {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            spans,
        });
    }
}
