//! The dispatch context's storage: one repository per aggregate, over the shared database handle.

pub mod instances;
pub mod leases;
pub mod tasks;
