//! The library watching itself: drops counted by cause and category without
//! a shared atomic on the hot path, and the library's own metrics.

pub(crate) mod drops;
pub(crate) mod own_metrics;
pub(crate) mod rejections;

pub use drops::{DropCause, DropCounts};
