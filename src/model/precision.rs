//! Compute precision (`--dtype f32|bf16|f16`): the weight matrices (linear layers, embeddings, the
//! patch embedding) are stored in the chosen dtype and multiplied in it, while activations, norms,
//! softmax, biases, LoRA factors and optimizer state stay f32, as transformers' bf16 models keep
//! their norms and softmax in f32. A backend without bf16 (WGSL has none) computes in f16.
//! QLoRA bases (8- or 4-bit, blockwise) are dequantized layer by layer at each product.

use burn::prelude::*;
use burn::tensor::quantization::{QuantScheme, QuantValue, ScaleDtype};
use burn::tensor::{DType, TensorData};

/// The dtype weight matrices are stored and multiplied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout (parity with transformers in f32 to ~1e-6).
    #[default]
    F32,
    /// bfloat16 weights and products (f32 accumulation), f32 elsewhere.
    Bf16,
    /// IEEE half weights and products, f32 elsewhere.
    F16,
}

impl Precision {
    /// Every choice, for menus.
    pub const ALL: [Self; 3] = [Self::F32, Self::Bf16, Self::F16];

    /// Parses `f32`, `bf16` or `f16`.
    ///
    /// # Errors
    /// Anything else, naming the choices.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "fp32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "f16" | "float16" | "fp16" => Ok(Self::F16),
            _ => Err(format!("dtype {s:?}: expected f32, bf16 or f16")),
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }

    /// Bytes per stored weight.
    pub fn bytes(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::Bf16 | Self::F16 => 2,
        }
    }

    /// burn's dtype.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::Bf16 => DType::BF16,
            Self::F16 => DType::F16,
        }
    }

    /// What `device` can compute in: bf16 falls back to f16 on a backend without bf16 (with a note
    /// for the log); f16 falls back to f32 where neither half type exists.
    pub fn on(self, device: &Device) -> (Self, Option<String>) {
        let ok = |p: Self| p == Self::F32 || device.supports_dtype(p.dtype());
        let mut p = self;
        if p == Self::Bf16 && !ok(p) {
            p = Self::F16;
        }
        if p == Self::F16 && !ok(p) {
            p = Self::F32;
        }
        let note =
            (p != self).then(|| format!("--dtype {}: this device has no {0}; computing in {}", self.name(), p.name()));
        (p, note)
    }
}

/// A QLoRA base: linear weights quantized blockwise (symmetric, one f32 scale per 32 consecutive
/// values of a row of the stored `[in, out]` matrix), dequantized at each product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseQuant {
    /// 8-bit integers.
    Q8,
    /// 4-bit integers (two per byte).
    Q4,
}

impl BaseQuant {
    /// Parses `q8`/`8` or `q4`/`4`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "q8" | "8" | "int8" => Ok(Self::Q8),
            "q4" | "4" | "int4" => Ok(Self::Q4),
            _ => Err(format!("quantize_base {s:?}: expected q8 or q4")),
        }
    }

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            Self::Q8 => "q8",
            Self::Q4 => "q4",
        }
    }

    /// Stored bytes per weight, scales included (one f32 per block of 32).
    pub fn bytes_per_weight(self) -> f64 {
        let bits = match self {
            Self::Q8 => 8.0,
            Self::Q4 => 4.0,
        };
        bits / 8.0 + 4.0 / 32.0
    }

    /// burn's scheme on `device` for a matrix whose rows hold `row` values: blocks of 32, or of
    /// the largest power of two dividing `row` when 32 does not.
    pub fn scheme(self, device: &Device, row: usize) -> QuantScheme {
        let value = match self {
            Self::Q8 => QuantValue::Q8S,
            Self::Q4 => QuantValue::Q4S,
        };
        let block = [32u8, 16, 8, 4, 2].into_iter().find(|b| row.is_multiple_of(usize::from(*b))).unwrap_or(1);
        device.settings().quantization.scheme.with_value(value).per_block([block], ScaleDtype::F32)
    }
}

/// A weight matrix in `precision` from row-major f32 host data (converted on the host, so the f32
/// copy never reaches the device).
pub fn matrix(data: Vec<f32>, shape: [usize; 2], precision: Precision, device: &Device) -> Tensor<2> {
    let data = match precision {
        Precision::F32 => TensorData::new(data, shape),
        Precision::Bf16 => {
            TensorData::new(data.into_iter().map(burn::tensor::bf16::from_f32).collect::<Vec<_>>(), shape)
        }
        Precision::F16 => TensorData::new(data.into_iter().map(burn::tensor::f16::from_f32).collect::<Vec<_>>(), shape),
    };
    Tensor::from_data(data, (device, precision.dtype()))
}

/// `x w` for f32 activations `x` and a stored weight `w`: a half-precision weight multiplies `x`
/// rounded to its dtype (the product accumulates in f32 and comes back as f32); a quantized weight
/// is dequantized first.
pub fn mm(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    let xd = x.dtype();
    let w = if matches!(w.dtype(), DType::QFloat(_)) { w.dequantize() } else { w };
    let wd = w.dtype();
    if wd == xd { x.matmul(w) } else { x.cast(wd).matmul(w).cast(xd) }
}

/// A stored weight as f32 (dequantized or widened), for host copies, merging and export.
pub fn widened<const D: usize>(w: Tensor<D>) -> Tensor<D> {
    let w = if matches!(w.dtype(), DType::QFloat(_)) { w.dequantize() } else { w };
    if w.dtype() == DType::F32 { w } else { w.cast(DType::F32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_named() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.name()), Ok(p));
        }
        assert!(Precision::parse("f8").unwrap_err().contains("bf16"));
        assert_eq!(BaseQuant::parse("4"), Ok(BaseQuant::Q4));
        assert!(BaseQuant::parse("q3").is_err());
    }

    #[test]
    fn half_products_are_close_to_f32_and_come_back_f32() {
        let device = Device::default();
        let mut rng = crate::rng::Rng::new(3);
        let xs = crate::model::layers::normal_vec(4 * 64, 1.0, &mut rng);
        let ws = crate::model::layers::normal_vec(64 * 8, 0.125, &mut rng);
        let x = crate::model::layers::tensor2(xs, [4, 64], &device);
        let full = mm(x.clone(), matrix(ws.clone(), [64, 8], Precision::F32, &device));
        for p in [Precision::Bf16, Precision::F16] {
            let y = mm(x.clone(), matrix(ws.clone(), [64, 8], p, &device));
            assert_eq!(y.dtype(), DType::F32);
            let d = crate::model::layers::to_vec((y - full.clone()).abs().max())[0];
            assert!(d < 0.05 && d > 0.0, "{p:?}: {d}");
        }
    }
}
