//! The tokenizer (`tokenizer.json` through the `tokenizers` crate) and the Qwen chat template,
//! rendered byte-exactly: the default system turn, one `<|vision_start|><|image_pad|><|vision_end|>`
//! block per image before the text, and the assistant generation prompt. `<|image_pad|>` is then
//! expanded to the image's token count, as the processor does.

use std::path::Path;

use tokenizers::Tokenizer;

use super::vlm::ModelError;

/// Qwen's default system message (inserted when the conversation has none).
pub const DEFAULT_SYSTEM: &str = "You are a helpful assistant.";

/// Renders one user turn with `n_images` images before `text`, plus the generation prompt.
pub fn render_user_turn(text: &str, n_images: usize, system: Option<&str>) -> String {
    let mut s = String::new();
    s.push_str("<|im_start|>system\n");
    s.push_str(system.unwrap_or(DEFAULT_SYSTEM));
    s.push_str("<|im_end|>\n<|im_start|>user\n");
    for _ in 0..n_images {
        s.push_str("<|vision_start|><|image_pad|><|vision_end|>");
    }
    s.push_str(text);
    s.push_str("<|im_end|>\n<|im_start|>assistant\n");
    s
}

/// A tokenizer with the ids the chat format needs.
pub struct ChatTokenizer {
    tok: Tokenizer,
    /// `<|image_pad|>`.
    pub image_pad: u32,
    /// `<|im_end|>`.
    pub im_end: u32,
    /// `<|endoftext|>` (also the padding id).
    pub endoftext: u32,
}

impl ChatTokenizer {
    /// Loads `dir/tokenizer.json` (or the file itself).
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] when the file is unreadable or lacks the Qwen special tokens.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let file = if path.is_dir() { path.join("tokenizer.json") } else { path.to_path_buf() };
        let tok = Tokenizer::from_file(&file).map_err(|e| ModelError::Tokenizer(format!("{e}: {}", file.display())))?;
        Self::from_tokenizer(tok)
    }

    /// Wraps an in-memory tokenizer.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] if a Qwen special token is missing.
    pub fn from_tokenizer(tok: Tokenizer) -> Result<Self, ModelError> {
        let id =
            |t: &str| tok.token_to_id(t).ok_or_else(|| ModelError::Tokenizer(format!("special token {t} is missing")));
        Ok(Self { image_pad: id("<|image_pad|>")?, im_end: id("<|im_end|>")?, endoftext: id("<|endoftext|>")?, tok })
    }

    /// The underlying tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.tok
    }

    /// Token ids of `text` (special tokens recognised, nothing added).
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self.tok.encode(text, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// A chat prompt for one user turn, with each `<|image_pad|>` expanded to `tokens_per_image[i]` copies.
    ///
    /// # Errors
    /// [`ModelError`] when the tokenizer fails or the image count disagrees with the placeholders.
    pub fn prompt(&self, text: &str, tokens_per_image: &[usize], system: Option<&str>) -> Result<Vec<u32>, ModelError> {
        let ids = self.encode(&render_user_turn(text, tokens_per_image.len(), system))?;
        let mut out = Vec::with_capacity(ids.len() + tokens_per_image.iter().sum::<usize>());
        let mut next = 0;
        for t in ids {
            if t == self.image_pad {
                let n = *tokens_per_image
                    .get(next)
                    .ok_or_else(|| ModelError::Invalid("the prompt text contains an extra <|image_pad|>".into()))?;
                out.extend(std::iter::repeat_n(t, n));
                next += 1;
            } else {
                out.push(t);
            }
        }
        if next != tokens_per_image.len() {
            return Err(ModelError::Invalid(format!(
                "{} images but {next} image placeholders",
                tokens_per_image.len()
            )));
        }
        Ok(out)
    }

    /// Decodes ids; with `skip_special`, special tokens are dropped (as `skip_special_tokens=True`).
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`].
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, ModelError> {
        self.tok.decode(ids, skip_special).map_err(|e| ModelError::Tokenizer(e.to_string()))
    }

    /// Ids that end a completion: `<|im_end|>` and `<|endoftext|>`.
    pub fn stop_ids(&self) -> Vec<u32> {
        vec![self.im_end, self.endoftext]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_template_is_byte_exact() {
        assert_eq!(
            render_user_turn("Q?", 1, None),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            render_user_turn("hi", 0, Some("S")),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
