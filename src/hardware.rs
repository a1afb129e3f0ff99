//! The machine a sweep runs on, recorded beside every figure it produces.

use serde::{Deserialize, Serialize};
use sysinfo::System;

/// CPU, memory and operating system of the measuring machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub cpu_model: String,
    /// Physical cores, when the OS reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_cores: Option<usize>,
    pub logical_cpus: usize,
    pub ram_bytes: u64,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    pub arch: String,
}

impl Hardware {
    pub fn detect() -> Hardware {
        let mut system = System::new();
        system.refresh_memory();
        system.refresh_cpu_all();

        let cpu_model = system
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_string())
            .filter(|brand| !brand.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        Hardware {
            cpu_model,
            physical_cores: System::physical_core_count(),
            logical_cpus: system.cpus().len(),
            ram_bytes: system.total_memory(),
            os: System::long_os_version().unwrap_or_else(|| std::env::consts::OS.to_string()),
            kernel: System::kernel_version(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_reports_this_machine() {
        let hardware = Hardware::detect();
        assert!(hardware.logical_cpus >= 1);
        assert!(hardware.ram_bytes > 0);
        assert!(!hardware.cpu_model.is_empty());
        assert_eq!(hardware.arch, std::env::consts::ARCH);
    }
}
