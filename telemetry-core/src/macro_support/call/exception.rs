//! The `exception` events of an instrumented call: an `Err` it returned
//! (the error's type, its message only if asked for and only in an event
//! that may identify its subject) or a panic unwinding through it (its type
//! only), with the crate's own stack frames when the function asks for them.

use crate::category::Category;
use crate::export::Severity;
use crate::privacy::FieldClass;
use crate::subject::context::Context;

use super::Call;
use super::backtrace::own_frames;

impl Call {
    /// Records an `Err` as an `exception` event in the errors category, with
    /// the error's type (never its message).
    pub fn error<T, E>(&mut self, result: &Result<T, E>) {
        if let Err(e) = result {
            self.error_event::<E>(None);
            self.span.set_error(e);
        }
    }

    /// Like [`error`](Self::error), and records the error's message with
    /// `class`, in an event that may identify its subject only (the message
    /// is not even formatted otherwise).
    pub fn error_with_message<T, E: std::fmt::Display>(
        &mut self,
        class: FieldClass,
        result: &Result<T, E>,
    ) {
        if let Err(e) = result {
            self.error_event::<E>(Some((class, e)));
            self.span.set_error(e);
        }
    }

    fn error_event<E>(&self, message: Option<(FieldClass, &dyn std::fmt::Display)>) {
        self.exception(std::any::type_name::<E>(), message);
    }

    /// The `exception` event of a panic: its type only.
    #[cold]
    pub(super) fn panic_event(&self) {
        self.exception("panic", None);
    }

    fn exception(&self, ty: &'static str, message: Option<(FieldClass, &dyn std::fmt::Display)>) {
        let t = &*self.telemetry;
        let ctx = self.context.clone();
        let _g = ctx.map(Context::attach);
        let _e = self.span.enter();
        let mut event = t
            .event("exception", Category::ERRORS)
            .severity(Severity::Error)
            .public("exception.type", ty)
            .public("code.function", self.site.schema.name);
        if let Some((class, message)) = message {
            event = event.identifying_with("exception.message", class, || message.to_string());
        }
        if self.site.schema.records_backtrace && t.enabled(Category::ERRORS) {
            let krate = self
                .site
                .module
                .split("::")
                .next()
                .unwrap_or(self.site.module);
            event = event.public("exception.stacktrace", own_frames(krate));
        }
        event.emit();
    }
}
