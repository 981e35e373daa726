//! OpenIDCS fields Gantry keeps without acting on them.
//!
//! OpenIDCS's clients send its whole `HSConfig`, `VMConfig` and `NCConfig`: SSH and iKuai router
//! settings, bandwidth and traffic quotas, ISO and backup lists… Gantry's QEMU engine has no use
//! for them, but refusing them would break those clients. So a record keeps them as they came
//! (and gives them back), every answer names them in `no_effect`, and secrets among them
//! (passwords) are dropped instead of kept. A field in neither Gantry's model nor OpenIDCS's is
//! refused with the list of what is accepted.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ComputeError, Result};
use crate::model::VmConfig;

/// Fields kept as they came, by name.
pub type Kept = BTreeMap<String, Value>;

/// Which OpenIDCS record a set of fields belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Record {
    Host,
    Vm,
    Nic,
}

impl Record {
    fn name(self) -> &'static str {
        match self {
            Record::Host => "host (HSConfig)",
            Record::Vm => "VM (VMConfig)",
            Record::Nic => "NIC (NCConfig)",
        }
    }

    /// OpenIDCS fields Gantry keeps and returns.
    fn kept(self) -> &'static [&'static str] {
        match self {
            Record::Host => &[
                "server_name",
                "server_user",
                "server_port",
                "server_area",
                "server_plan",
                "network_nat",
                "network_pub",
                "i_kuai_addr",
                "i_kuai_user",
                "remote_port",
                "extern_path",
                "launch_path",
                "dvdrom_path",
                "limits_nums",
                "server_dnss",
                "system_maps",
                "images_maps",
                "ipaddr_maps",
                "ipaddr_dnss",
                "ipaddr_ddns",
            ],
            Record::Vm => &[
                "vc_port", "cpu_per", "gpu_num", "gpu_mem", "speed_u", "speed_d", "flu_num", "nat_num", "web_num",
                "hdd_all", "iso_all", "backups", "own_all",
            ],
            Record::Nic => &["nic_devs", "ip6_addr", "dns_addr"],
        }
    }

    /// OpenIDCS secrets: accepted, never stored.
    fn secrets(self) -> &'static [&'static str] {
        match self {
            Record::Host => &["server_pass", "i_kuai_pass"],
            Record::Vm => &["os_pass", "vc_pass"],
            Record::Nic => &[],
        }
    }
}

/// Checks the fields a request brought beside Gantry's own: refuses any OpenIDCS does not
/// have either, drops secrets, and answers the names that have no effect (secrets included).
pub(crate) fn accept(record: Record, kept: &mut Kept) -> Result<Vec<String>> {
    if let Some(unknown) =
        kept.keys().find(|k| !record.kept().contains(&k.as_str()) && !record.secrets().contains(&k.as_str()))
    {
        return Err(ComputeError::Invalid(format!(
            "unknown field `{unknown}` in the {}: neither Gantry nor OpenIDCS has it; OpenIDCS fields Gantry keeps \
             without effect: {}",
            record.name(),
            record.kept().join(", ")
        )));
    }
    let no_effect = kept.keys().cloned().collect();
    kept.retain(|k, _| !record.secrets().contains(&k.as_str()));
    Ok(no_effect)
}

/// Merges changed kept fields into stored ones (`null` removes one), with [`accept`]'s checks.
pub(crate) fn merge(record: Record, stored: &mut Kept, mut change: Kept) -> Result<Vec<String>> {
    let no_effect = accept(record, &mut change)?;
    for (k, v) in change {
        if v.is_null() {
            stored.remove(&k);
        } else {
            stored.insert(k, v);
        }
    }
    Ok(no_effect)
}

/// [`accept`] for a VM and each of its NICs (a NIC's fields named `nic_all.<name>.<field>`).
pub(crate) fn accept_vm(cfg: &mut VmConfig) -> Result<Vec<String>> {
    let mut no_effect = accept(Record::Vm, &mut cfg.kept)?;
    for (name, nic) in &mut cfg.nic_all {
        no_effect.extend(accept(Record::Nic, &mut nic.kept)?.into_iter().map(|f| format!("nic_all.{name}.{f}")));
    }
    Ok(no_effect)
}

/// The kept fields of a stored VM, named as [`accept_vm`] names them.
pub(crate) fn vm_names(cfg: &VmConfig) -> Vec<String> {
    let nics = cfg.nic_all.iter().flat_map(|(name, nic)| nic.kept.keys().map(move |f| format!("nic_all.{name}.{f}")));
    cfg.kept.keys().cloned().chain(nics).collect()
}

/// Both lists in one, sorted, each name once.
pub(crate) fn union(mut a: Vec<String>, b: Vec<String>) -> Vec<String> {
    a.extend(b);
    a.sort();
    a.dedup();
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kept(v: Value) -> Kept {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn openidcs_fields_are_kept_and_secrets_dropped() {
        let mut k = kept(json!({"server_name": "lab", "server_pass": "hunter2", "remote_port": 6080}));
        let no_effect = accept(Record::Host, &mut k).unwrap();
        assert_eq!(no_effect, ["remote_port", "server_name", "server_pass"]);
        assert_eq!(k, kept(json!({"server_name": "lab", "remote_port": 6080})));
    }

    #[test]
    fn a_field_of_neither_model_is_refused_by_name() {
        let mut k = kept(json!({"server_nmae": "lab"}));
        let err = accept(Record::Host, &mut k).unwrap_err().to_string();
        assert!(err.contains("`server_nmae`") && err.contains("server_name"), "{err}");
        assert!(accept(Record::Vm, &mut kept(json!({"server_name": "x"}))).is_err());
    }

    #[test]
    fn merge_replaces_and_null_removes() {
        let mut stored = kept(json!({"cpu_per": 50, "gpu_num": 1}));
        merge(Record::Vm, &mut stored, kept(json!({"cpu_per": 80, "gpu_num": null, "vc_pass": "x"}))).unwrap();
        assert_eq!(stored, kept(json!({"cpu_per": 80})));
    }
}
