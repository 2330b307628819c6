//! Health of backends: server groups, selection, checks and the tasks that run them.

pub mod balance;
pub mod checks;
pub mod galera;
pub mod group;
pub mod monitor;
