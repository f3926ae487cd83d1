//! Per-GPU metrics through NVML, loaded at run time (nvml-wrapper opens
//! `libnvidia-ml.so` when the sampler starts): without an NVIDIA driver,
//! opening fails and the sampler records no GPU series, nothing else changes.
//! Only the GPUs the job may use are sampled (`CUDA_VISIBLE_DEVICES`), named
//! as CUDA numbers them for the job: `gpu0` is the first visible one.

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::Nvml;

/// One GPU the job may use, as `CUDA_VISIBLE_DEVICES` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// By NVML index.
    Index(u32),
    /// By UUID (`GPU-...`) or a UUID prefix, as CUDA accepts.
    Uuid(String),
}

/// The GPUs `CUDA_VISIBLE_DEVICES` lets the job use, in CUDA's order;
/// `None` (unset) means all `count` devices. CUDA stops at the first entry
/// that is not valid, and so does this.
pub fn visible(spec: Option<&str>, count: u32) -> Vec<Visible> {
    let Some(spec) = spec else {
        return (0..count).map(Visible::Index).collect();
    };
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        if let Ok(i) = part.parse::<u32>() {
            if i >= count {
                break;
            }
            out.push(Visible::Index(i));
        } else if part.starts_with("GPU-") || part.starts_with("MIG-") {
            out.push(Visible::Uuid(part.to_string()));
        } else {
            break;
        }
    }
    out
}

/// The NVML session and the GPUs to sample.
pub struct Gpus {
    nvml: Nvml,
    devices: Vec<Visible>,
}

impl Gpus {
    /// Loads NVML; `None` (with the reason) without a driver or library.
    pub fn open(cuda_visible: Option<&str>) -> Result<Self, String> {
        let nvml = Nvml::init().map_err(|e| e.to_string())?;
        let count = nvml.device_count().map_err(|e| e.to_string())?;
        Ok(Self {
            devices: visible(cuda_visible, count),
            nvml,
        })
    }

    /// How many GPUs are sampled.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether no GPU is sampled.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Appends `gpu<i>/<metric>` readings; a reading a GPU does not support
    /// is left out.
    pub fn sample(&self, out: &mut Vec<(String, f64)>) {
        for (i, which) in self.devices.iter().enumerate() {
            let dev = match which {
                Visible::Index(n) => self.nvml.device_by_index(*n),
                Visible::Uuid(u) => self.nvml.device_by_uuid(u.as_str()),
            };
            let Ok(dev) = dev else { continue };
            if let Ok(u) = dev.utilization_rates() {
                out.push((format!("gpu{i}/utilization_percentage"), f64::from(u.gpu)));
            }
            if let Ok(m) = dev.memory_info() {
                out.push((
                    format!("gpu{i}/memory_usage_megabytes"),
                    m.used as f64 / 1e6,
                ));
            }
            if let Ok(mw) = dev.power_usage() {
                out.push((format!("gpu{i}/power_watts"), f64::from(mw) / 1000.0));
            }
            if let Ok(t) = dev.temperature(TemperatureSensor::Gpu) {
                out.push((format!("gpu{i}/temperature_celsius"), f64::from(t)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_visible_devices_selects_like_cuda() {
        use Visible::*;
        assert_eq!(visible(None, 2), vec![Index(0), Index(1)]);
        assert_eq!(visible(Some(""), 4), vec![]);
        assert_eq!(visible(Some("2,0"), 4), vec![Index(2), Index(0)]);
        // CUDA ignores everything from the first invalid entry on.
        assert_eq!(visible(Some("1,7,0"), 4), vec![Index(1)]);
        assert_eq!(visible(Some("1,x,0"), 4), vec![Index(1)]);
        assert_eq!(visible(Some("-1"), 4), vec![]);
        assert_eq!(
            visible(Some("GPU-8f2c,3"), 4),
            vec![Uuid("GPU-8f2c".into()), Index(3)]
        );
    }
}
