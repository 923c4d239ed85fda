//! Reading and writing Hugging Face safetensors checkpoints without loading whole files: the header
//! is parsed, then each tensor is read from its byte range (f32, f16 or bf16, converted to f32).
//! Sharded checkpoints (`model.safetensors.index.json`) are followed. Pickle files are never read.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Element types in a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl Dtype {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "F32" => Some(Self::F32),
            "F16" => Some(Self::F16),
            "BF16" => Some(Self::Bf16),
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// safetensors' name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Bf16 => "BF16",
        }
    }
}

/// A checkpoint problem, naming the tensor or file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// I/O failure.
    #[error("cannot read ({reason}): {path}")]
    Io {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// No safetensors file found.
    #[error("no model.safetensors or model.safetensors.index.json in {0}{1}")]
    NoWeights(PathBuf, &'static str),
    /// Corrupt header.
    #[error("invalid safetensors header ({reason}): {path}")]
    Header {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
    /// A tensor the model needs is absent.
    #[error("tensor `{0}` is missing from the checkpoint")]
    Missing(String),
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, the config implies {expected:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Shape the model needs.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor holds NaN or infinite values (a diverged or damaged checkpoint).
    #[error(
        "tensor `{name}` holds {bad} NaN/infinite values of {total}: the checkpoint is damaged or its training diverged; use an earlier checkpoint: {path}"
    )]
    NonFinite {
        /// Tensor name.
        name: String,
        /// Non-finite values.
        bad: usize,
        /// Values in all.
        total: usize,
        /// The file.
        path: PathBuf,
    },
    /// Unsupported element type.
    #[error("tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// Writing failed.
    #[error("cannot write checkpoint ({reason}): {path}")]
    Write {
        /// Why.
        reason: String,
        /// The file.
        path: PathBuf,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    dtype: Result<Dtype, String>,
    shape: Vec<usize>,
    start: u64,
    end: u64,
}

/// An opened (possibly sharded) safetensors checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    files: Vec<PathBuf>,
    entries: HashMap<String, Entry>,
    /// The dtype weight matrices are stored in once loaded (`--dtype`).
    pub store: super::precision::Precision,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> WeightsError + '_ {
    move |e| WeightsError::Io { reason: e.to_string(), path: path.to_path_buf() }
}

fn read_header(path: &Path, file_index: usize, entries: &mut HashMap<String, Entry>) -> Result<(), WeightsError> {
    let bad = |reason: String| WeightsError::Header { reason, path: path.to_path_buf() };
    let mut f = File::open(path).map_err(io(path))?;
    let total = f.metadata().map_err(io(path))?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(io(path))?;
    let n = u64::from_le_bytes(n);
    if n > 100_000_000 || n + 8 > total {
        return Err(bad(format!("header length {n}")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(io(path))?;
    let v: Value = serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    let base = 8 + n;
    for (name, info) in obj {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info.get("dtype").and_then(Value::as_str).ok_or_else(|| bad(format!("{name}: no dtype")))?;
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
            .ok_or_else(|| bad(format!("{name}: bad shape")))?;
        let offs: Vec<u64> = info
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect())
            .ok_or_else(|| bad(format!("{name}: bad data_offsets")))?;
        let [s, e] = offs[..] else { return Err(bad(format!("{name}: bad data_offsets"))) };
        if base + e > total || s > e {
            return Err(bad(format!("{name}: data past the end of the file")));
        }
        let dtype = Dtype::parse(dtype).ok_or_else(|| dtype.to_string());
        entries.insert(name.clone(), Entry { file: file_index, dtype, shape, start: base + s, end: base + e });
    }
    Ok(())
}

impl Checkpoint {
    /// Opens `model.safetensors`, a sharded `model.safetensors.index.json`, or a single `.safetensors` file.
    ///
    /// # Errors
    /// [`WeightsError`] naming the file.
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let files: Vec<PathBuf> = if path.is_file() {
            vec![path.to_path_buf()]
        } else if path.join("model.safetensors.index.json").is_file() {
            let idx = path.join("model.safetensors.index.json");
            let text = std::fs::read_to_string(&idx).map_err(io(&idx))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| WeightsError::Header { reason: e.to_string(), path: idx.clone() })?;
            let map = v
                .get("weight_map")
                .and_then(Value::as_object)
                .ok_or_else(|| WeightsError::Header { reason: "no weight_map".into(), path: idx.clone() })?;
            let mut shards: Vec<String> = map.values().filter_map(|x| x.as_str().map(str::to_string)).collect();
            shards.sort();
            shards.dedup();
            shards.into_iter().map(|s| path.join(s)).collect()
        } else if path.join("model.safetensors").is_file() {
            vec![path.join("model.safetensors")]
        } else {
            let pickle = path.join("pytorch_model.bin").exists() || path.join("pytorch_model.bin.index.json").exists();
            let hint = if pickle {
                " (only pickle .bin files found: they are never loaded; convert them to safetensors)"
            } else {
                ""
            };
            return Err(WeightsError::NoWeights(path.to_path_buf(), hint));
        };
        let mut entries = HashMap::new();
        for (i, f) in files.iter().enumerate() {
            read_header(f, i, &mut entries)?;
        }
        Ok(Self { files, entries, store: super::precision::Precision::F32 })
    }

    /// Whether a tensor exists.
    pub fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.keys().cloned().collect();
        v.sort();
        v
    }

    /// The shape of a tensor.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// Reads a tensor as f32, checking its shape.
    ///
    /// # Errors
    /// [`WeightsError::Missing`], [`WeightsError::Shape`], [`WeightsError::Dtype`] or I/O errors.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, WeightsError> {
        let e = self.entries.get(name).ok_or_else(|| WeightsError::Missing(name.to_string()))?;
        if e.shape != expected {
            return Err(WeightsError::Shape {
                name: name.to_string(),
                expected: expected.to_vec(),
                found: e.shape.clone(),
            });
        }
        let dtype = e.dtype.clone().map_err(|d| WeightsError::Dtype { name: name.to_string(), dtype: d })?;
        let count: usize = e.shape.iter().product();
        let path = &self.files[e.file];
        if (e.end - e.start) as usize != count * dtype.size() {
            return Err(WeightsError::Header {
                reason: format!("{name}: byte length does not match shape"),
                path: path.clone(),
            });
        }
        let mut f = File::open(path).map_err(io(path))?;
        f.seek(SeekFrom::Start(e.start)).map_err(io(path))?;
        let mut bytes = vec![0u8; (e.end - e.start) as usize];
        f.read_exact(&mut bytes).map_err(io(path))?;
        let values: Vec<f32> = match dtype {
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::Bf16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        };
        // Checked on every load: a diverged checkpoint must not quietly generate empty answers.
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(WeightsError::NonFinite {
                name: name.to_string(),
                bad,
                total: values.len(),
                path: path.clone(),
            });
        }
        Ok(values)
    }

    /// Checks every tensor of the checkpoint for NaN / infinite values (`medvlm model check`);
    /// returns the number of tensors and values checked.
    ///
    /// # Errors
    /// The first bad tensor, or a read error.
    pub fn check_all(&self) -> Result<(usize, usize), WeightsError> {
        let (mut tensors, mut values) = (0, 0);
        for name in self.names() {
            let shape = self.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
            values += self.get(&name, &shape)?.len();
            tensors += 1;
        }
        Ok((tensors, values))
    }
}

/// One tensor to write.
pub struct NamedTensor {
    /// HF name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Writes tensors to one safetensors file in the given precision (atomically: temp file, then rename).
///
/// # Errors
/// [`WeightsError::Write`].
pub fn write(
    path: &Path,
    tensors: &[NamedTensor],
    dtype: Dtype,
    metadata: BTreeMap<String, String>,
) -> Result<(), WeightsError> {
    let err = |reason: String| WeightsError::Write { reason, path: path.to_path_buf() };
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let bytes: Vec<u8> = match dtype {
                Dtype::F32 => t.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                Dtype::F16 => t.data.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect(),
                Dtype::Bf16 => t.data.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect(),
            };
            (t.name.clone(), t.shape.clone(), bytes)
        })
        .collect();
    let st_dtype = match dtype {
        Dtype::F32 => safetensors::Dtype::F32,
        Dtype::F16 => safetensors::Dtype::F16,
        Dtype::Bf16 => safetensors::Dtype::BF16,
    };
    let views = encoded
        .iter()
        .map(|(n, s, b)| safetensors::tensor::TensorView::new(st_dtype, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    let tmp = path.with_extension("safetensors.tmp");
    let meta: HashMap<String, String> = metadata.into_iter().collect();
    safetensors::serialize_to_file(views, Some(meta), &tmp).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
