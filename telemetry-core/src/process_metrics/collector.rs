//! The collector thread's side: the instruments it records into, one
//! sample of the process read with sysinfo, and the CPU time already
//! counted per telemetry instance.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::category::Category;
use crate::error::ConfigError;
use crate::instance::Inner;
use crate::metrics::instrument::{FloatCounter, Gauge};
use crate::telemetry::Telemetry;

/// The instruments, looked up in the instance's registry (instruments with
/// the same name, kind and category are shared).
pub(super) struct Instruments {
    cpu_time: FloatCounter,
    cpu_utilization: Gauge,
    memory_usage: Gauge,
    memory_virtual: Gauge,
    thread_count: Gauge,
    fd_count: Gauge,
    uptime: Gauge,
}

impl Instruments {
    pub(super) fn build(t: &Telemetry, c: Category) -> Result<Self, ConfigError> {
        Ok(Instruments {
            cpu_time: t
                .float_counter("process.cpu.time", c)
                .unit("s")
                .description("Total CPU seconds (user and system) used by the process.")
                .build()?,
            cpu_utilization: t
                .gauge("process.cpu.utilization", c)
                .unit("1")
                .description(
                    "Difference in process.cpu.time since the last measurement, divided by \
                     the elapsed time and number of CPUs available to the process.",
                )
                .build()?,
            memory_usage: t
                .gauge("process.memory.usage", c)
                .unit("By")
                .description("The amount of physical memory in use.")
                .build()?,
            memory_virtual: t
                .gauge("process.memory.virtual", c)
                .unit("By")
                .description("The amount of committed virtual memory.")
                .build()?,
            thread_count: t
                .gauge("process.thread.count", c)
                .unit("{thread}")
                .description("Process threads count.")
                .build()?,
            fd_count: t
                .gauge("process.unix.file_descriptor.count", c)
                .unit("{file_descriptor}")
                .description("Number of file descriptors in use by the process.")
                .build()?,
            uptime: t
                .gauge("process.uptime", c)
                .unit("s")
                .description("The time the process has been running.")
                .build()?,
        })
    }
}

/// CPU milliseconds already added to `process.cpu.time`, per telemetry
/// instance, so that a restarted (or second) collector continues the count
/// instead of adding the process's CPU time again.
static CPU_MS_ADDED: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// Adds to `counter` the part of `cpu_ms` not yet added for instance `id`,
/// in seconds.
fn add_cpu_time(id: u64, cpu_ms: u64, counter: &FloatCounter) {
    let mut added = CPU_MS_ADDED.lock().unwrap_or_else(PoisonError::into_inner);
    let done = added.entry(id).or_insert(0);
    let total = cpu_ms;
    let new = total.saturating_sub(*done);
    // Recorded before the counter is updated, under the lock: two
    // collectors cannot both add the same second. A denied measurement
    // still advances the count: that time was not exported, and exporting
    // it later would put it in the wrong interval.
    *done = (*done).max(total);
    // Even a zero is added: the series then exists from the first sample.
    counter.add(new as f64 / 1000.0, &[]);
}

fn forget_instance(id: u64) {
    let mut added = CPU_MS_ADDED.lock().unwrap_or_else(PoisonError::into_inner);
    added.remove(&id);
}

pub(super) enum Tick {
    Continue,
    Stop,
}

/// The collector thread's state.
pub(super) struct Collector {
    category: Category,
    system: System,
    pid: Pid,
    /// Accumulated CPU milliseconds and when they were read.
    last: Option<(u64, Instant)>,
    /// The instance's id, once seen (to forget it when the instance is gone).
    instance: Option<u64>,
}

impl Collector {
    pub(super) fn new(category: Category) -> Self {
        Collector {
            category,
            system: System::new(),
            pid: Pid::from_u32(std::process::id()),
            last: None,
            instance: None,
        }
    }

    /// One sample, unless the instance is gone or disabled.
    pub(super) fn tick(&mut self, weak: &Weak<Inner>) -> Tick {
        let Some(inner) = weak.upgrade() else {
            if let Some(id) = self.instance {
                forget_instance(id);
            }
            return Tick::Stop;
        };
        self.instance = Some(inner.id());
        if inner.check_enabled().is_err() {
            // Shut down for good: nothing more will be recorded.
            forget_instance(inner.id());
            return Tick::Stop;
        }
        let telemetry = Telemetry::internal(inner);
        // Cannot fail after `start` built the same instruments, but if it
        // does, skipping a sample is the right answer.
        if let Ok(instruments) = Instruments::build(&telemetry, self.category) {
            self.sample(&telemetry, &instruments);
        }
        // `telemetry` is dropped here: between samples the thread holds
        // only the weak reference.
        Tick::Continue
    }

    fn sample(&mut self, telemetry: &Telemetry, m: &Instruments) {
        let refresh = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .with_tasks();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            refresh,
        );
        let now = Instant::now();
        let Some(process) = self.system.process(self.pid) else {
            // Not readable on this platform (or not permitted): nothing to record.
            return;
        };

        let cpu_ms = process.accumulated_cpu_time();
        add_cpu_time(telemetry.inner.id(), cpu_ms, &m.cpu_time);
        if let Some((last_ms, last_at)) = self.last {
            let wall = now.duration_since(last_at).as_secs_f64();
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            if wall > 0.0 {
                let used = cpu_ms.saturating_sub(last_ms) as f64 / 1000.0;
                // CPU time is counted in clock ticks (10 ms on Linux), so a
                // short interval can read slightly above 1.
                m.cpu_utilization
                    .record((used / (wall * cpus)).clamp(0.0, 1.0), &[]);
            }
        }
        self.last = Some((cpu_ms, now));

        // sysinfo reports 0 where it cannot read memory; a running process
        // always has some.
        let resident = process.memory();
        if resident > 0 {
            m.memory_usage.record(resident as f64, &[]);
        }
        let virt = process.virtual_memory();
        if virt > 0 {
            m.memory_virtual.record(virt as f64, &[]);
        }
        // sysinfo lists the threads other than the main one.
        if let Some(tasks) = process.tasks() {
            m.thread_count.record((tasks.len() + 1) as f64, &[]);
        }
        // On Windows, sysinfo counts handles: not file descriptors.
        if cfg!(unix)
            && let Some(fds) = process.open_files()
        {
            m.fd_count.record(fds as f64, &[]);
        }
        m.uptime.record(process.run_time() as f64, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysinfo_leaves_the_main_thread_out_of_tasks() {
        // The collector adds 1 to `tasks().len()` for the main thread, whose
        // thread id is the process id. If sysinfo ever lists it, this fails
        // instead of the thread count being one too high.
        let pid = Pid::from_u32(std::process::id());
        let mut system = System::new();
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            true,
            ProcessRefreshKind::nothing().with_tasks(),
        );
        let Some(tasks) = system.process(pid).and_then(|p| p.tasks()) else {
            return; // not Linux or Android: no thread count at all
        };
        assert!(
            !tasks.contains(&pid),
            "{tasks:?} lists the main thread {pid}"
        );
    }
}
