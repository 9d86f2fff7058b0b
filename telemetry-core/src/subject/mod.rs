//! Data subjects in the running code: the per-subject state whose atomic
//! masks the gate reads, the current context (subject, span, narrowing) of
//! a thread, and the one future adapter that carries a context across
//! `.await`.

pub(crate) mod context;
pub(crate) mod future;
pub(crate) mod id;
pub(crate) mod state;

pub(crate) use crate::export::SubjectKey;
pub use state::Choices;
pub(crate) use state::SubjectState;
