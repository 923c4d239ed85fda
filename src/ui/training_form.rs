//! The Training workspace's run form: the settings grid (preset, model, template, steps, sizes,
//! learning, loss, sampling, LoRA, precision, compute), with the pre-flight summary and the memory
//! plan beneath it.

use eframe::egui;

use crate::app::state::AppState;
use crate::train::grpo::config::GrpoConfig;
use crate::train::grpo::loss::LossType;

/// Draws the form (read-only while a run is live).
pub fn form(ui: &mut egui::Ui, state: &mut AppState) {
    let running = state.training.active.is_some();
    let toy = state.toy_model_warning(&state.training.form.model);
    let t = &mut state.training;
    let (f, backend, autotune) = (&mut t.form, &mut t.backend, &mut t.autotune);
    ui.add_enabled_ui(!running, |ui| {
        egui::Grid::new("grpo_form").num_columns(2).spacing([8.0, 4.0]).show(ui, |ui| {
            ui.label("Preset");
            let mut preset = f.preset.clone();
            egui::ComboBox::from_id_salt("preset").selected_text(&preset).show_ui(ui, |ui| {
                for p in GrpoConfig::PRESETS {
                    ui.selectable_value(&mut preset, p.to_string(), p);
                }
            });
            if preset != f.preset
                && let Some(p) = GrpoConfig::preset(&preset)
            {
                *f = p;
            }
            ui.end_row();
            ui.label("Model");
            ui.text_edit_singleline(&mut f.model)
                .on_hover_text("A checkpoint folder, or `sample` for the built-in medvlm-tiny");
            ui.end_row();
            if let Some(w) = toy {
                ui.label("");
                ui.add(egui::Label::new(egui::RichText::new(w).color(ui.visuals().warn_fg_color)).wrap());
                ui.end_row();
            }
            ui.label("Prompt template");
            egui::ComboBox::from_id_salt("template").selected_text(&f.template).show_ui(ui, |ui| {
                for t in crate::domain::prompt::PromptTemplate::built_in() {
                    ui.selectable_value(&mut f.template, t.name().to_string(), t.name());
                }
            });
            ui.end_row();
            let num = |ui: &mut egui::Ui, label: &str, v: &mut usize, range: std::ops::RangeInclusive<usize>| {
                ui.label(label);
                ui.add(egui::DragValue::new(v).range(range));
                ui.end_row();
            };
            num(ui, "Steps", &mut f.steps, 1..=100_000);
            num(ui, "Prompts / step", &mut f.prompts_per_step, 1..=1024);
            num(ui, "Generations G", &mut f.num_generations, 1..=64);
            num(ui, "Max prompt tokens", &mut f.max_prompt_length, 1..=131_072);
            num(ui, "Max completion tokens", &mut f.max_completion_length, 1..=8192);
            image_size_settings(ui, f);
            num(ui, "Save every N steps", &mut f.save_steps, 1..=100_000);
            ui.label("Learning rate");
            ui.add(
                egui::DragValue::new(&mut f.learning_rate)
                    .speed(1e-6)
                    .range(1e-9..=1.0)
                    .custom_formatter(|v, _| format!("{v:.1e}")),
            );
            ui.end_row();
            ui.label("KL beta");
            ui.add(egui::DragValue::new(&mut f.beta).speed(0.001).range(0.0..=10.0));
            ui.end_row();
            ui.label("Temperature");
            ui.add(egui::DragValue::new(&mut f.temperature).speed(0.01).range(0.01..=5.0));
            ui.end_row();
            ui.label("Loss");
            egui::ComboBox::from_id_salt("loss").selected_text(format!("{:?}", f.loss_type)).show_ui(ui, |ui| {
                for l in [
                    LossType::Grpo,
                    LossType::Bnpo,
                    LossType::DrGrpo,
                    LossType::Dapo,
                    LossType::Cispo,
                    LossType::VerlTokenMean,
                ] {
                    ui.selectable_value(&mut f.loss_type, l, format!("{l:?}"));
                }
            });
            ui.end_row();
            ui.label("Dynamic sampling");
            ui.horizontal(|ui| {
                ui.checkbox(&mut f.dynamic_sampling, "drop all-equal groups").on_hover_text(
                    "DAPO / verl filter_groups: groups whose rewards are all equal teach nothing; roll out more prompts until the batch is full",
                );
                if f.dynamic_sampling {
                    ui.add(egui::DragValue::new(&mut f.max_sampling_rounds).range(1..=100).suffix(" rounds at most"));
                }
            });
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut f.seed));
            ui.end_row();
            lora_settings(ui, f);
            compute_settings(ui, backend, autotune);
        });
    });
    memory_plan(ui, &t.plan);
    if t.autotune != t.autotune_in_force {
        ui.weak(format!(
            "Autotune {} takes effect at the next start ({} now)",
            t.autotune.name(),
            t.autotune_in_force.name()
        ));
    }
}

/// `max_pixels` / `min_pixels` (0: the model's) and skipping long prompts: rows of the form's grid.
fn image_size_settings(ui: &mut egui::Ui, f: &mut GrpoConfig) {
    let pixels = |v: usize| if v == 0 { "model's".to_string() } else { crate::train::grpo::preflight::group(v) };
    let rows: [(&str, &str, &mut usize); 2] = [
        ("Max pixels", "Largest image area after resizing; every 28×28 pixels are one image token", &mut f.max_pixels),
        ("Min pixels", "Smallest image area after resizing", &mut f.min_pixels),
    ];
    for (label, hover, value) in rows {
        ui.label(label).on_hover_text(hover);
        ui.add(
            egui::DragValue::new(value)
                .speed(784.0)
                .range(0..=50_000_000)
                .custom_formatter(move |v, _| pixels(v as usize)),
        );
        ui.end_row();
    }
    ui.label("Long prompts");
    ui.checkbox(&mut f.skip_long_prompts, "skip them")
        .on_hover_text("Leave out items whose prompt exceeds the max prompt tokens (named in the run's warnings) instead of refusing the run");
    ui.end_row();
}

/// LoRA (rank, alpha, vision tower) and the memory settings: rows of the form's grid.
fn lora_settings(ui: &mut egui::Ui, f: &mut GrpoConfig) {
    ui.label("LoRA");
    let mut on = f.lora.is_some();
    ui.checkbox(&mut on, "adapters on a frozen base")
        .on_hover_text("PEFT-compatible LoRA on q/k/v/o and the MLP; the KL reference is the base with adapters off");
    ui.end_row();
    if on != f.lora.is_some() {
        f.lora = on.then(crate::model::lora::LoraSettings::default);
    }
    if let Some(l) = &mut f.lora {
        ui.label("  rank / alpha");
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut l.rank).range(1..=1024));
            ui.add(egui::DragValue::new(&mut l.alpha).speed(1.0).range(0.1..=4096.0));
        });
        ui.end_row();
        ui.label("  vision tower");
        ui.checkbox(&mut l.train_vision, "adapt it too");
        ui.end_row();
        ui.label("  QLoRA base");
        egui::ComboBox::from_id_salt("qlora-base")
            .selected_text(l.quantize_base.map_or("none", |q| q.name()))
            .show_ui(ui, |ui| {
                use crate::model::precision::BaseQuant;
                for q in [None, Some(BaseQuant::Q8), Some(BaseQuant::Q4)] {
                    ui.selectable_value(&mut l.quantize_base, q, q.map_or("none", |q| q.name()));
                }
            })
            .response
            .on_hover_text("The decoder's base weights quantized to 8 or 4 bits, dequantized at each product");
        ui.end_row();
    }
    ui.label("Weights dtype");
    egui::ComboBox::from_id_salt("weights-dtype").selected_text(f.dtype.name()).show_ui(ui, |ui| {
        for p in crate::model::precision::Precision::ALL {
            ui.selectable_value(&mut f.dtype, p, p.name());
        }
    });
    ui.end_row();
    if f.dtype != crate::model::precision::Precision::F32 && f.lora.is_none() {
        ui.label("");
        ui.colored_label(ui.visuals().warn_fg_color, "half precision trains LoRA: turn LoRA on");
        ui.end_row();
    }
    ui.label("Gradient checkpointing");
    ui.checkbox(&mut f.gradient_checkpointing, "per decoder layer").on_hover_text(
        "Keep only each decoder layer's input and recompute the layer in the backward pass: less activation \
         memory in the training pass, about one more forward pass of compute",
    );
    ui.end_row();
    ui.label("Memory limit (GB)");
    ui.add(egui::DragValue::new(&mut f.memory_limit_gb).speed(0.5).range(0.0..=4096.0))
        .on_hover_text("0: the host's available memory on the CPU. Set your GPU's size: wgpu does not report it");
    ui.end_row();
}

/// The form's memory plan next to the memory available, its table on hover.
fn memory_plan(ui: &mut egui::Ui, plan: &crate::app::plan::FormPlan) {
    use crate::train::memory::gb;
    if let Some(Ok(p)) = &plan.result {
        preflight_summary(ui, &p.preflight);
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Memory plan:");
        match &plan.result {
            Some(Ok(p)) => {
                let (text, color) = match p.limit {
                    Some(l) if p.needed <= l => {
                        (format!("{} of {} available — fits", gb(p.needed), gb(l)), ui.visuals().weak_text_color())
                    }
                    Some(l) => {
                        (format!("{} of {} available — does not fit", gb(p.needed), gb(l)), ui.visuals().error_fg_color)
                    }
                    None => {
                        (format!("{} (GPU size unknown: set a memory limit)", gb(p.needed)), ui.visuals().warn_fg_color)
                    }
                };
                ui.colored_label(color, text).on_hover_text(egui::RichText::new(p.plan.table()).monospace());
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().warn_fg_color, "unavailable").on_hover_text(e);
            }
            None => {}
        }
        if plan.is_pending() {
            ui.spinner();
        }
    });
}

/// One line of the pre-flight check (the table on hover).
fn preflight_summary(ui: &mut egui::Ui, p: &crate::train::grpo::preflight::Preflight) {
    use crate::train::grpo::preflight::group;
    let lens: Vec<usize> = p.usable.iter().chain(&p.too_long).map(|s| s.prompt_len).collect();
    let range = match (lens.iter().min(), lens.iter().max()) {
        (Some(lo), Some(hi)) => format!(", prompts {}–{} tokens", group(*lo), group(*hi)),
        _ => String::new(),
    };
    let time = p.estimate.as_ref().map(|e| format!(", ≤ {:.1} s/step", e.seconds)).unwrap_or_default();
    let text = format!("Pre-flight: {} of {} items trainable{range}{time}", group(p.usable.len()), group(p.considered));
    let color = if p.blocker().is_some() { ui.visuals().error_fg_color } else { ui.visuals().weak_text_color() };
    ui.add(egui::Label::new(egui::RichText::new(text).color(color)).wrap())
        .on_hover_text(egui::RichText::new(p.table()).monospace());
}

/// Backend for the next run and the GPU autotune level (read once per process by the GPU runtime):
/// two rows of the form's grid.
fn compute_settings(
    ui: &mut egui::Ui,
    backend: &mut crate::model::device::BackendChoice,
    autotune: &mut crate::model::gpu::AutotuneLevel,
) {
    use crate::model::device::BackendChoice;
    use crate::model::gpu::AutotuneLevel;
    ui.label("Backend");
    let name = |b: BackendChoice| match b {
        BackendChoice::Auto => "auto (GPU if found)",
        BackendChoice::Wgpu => "wgpu",
        BackendChoice::Cpu => "CPU",
    };
    egui::ComboBox::from_id_salt("backend").selected_text(name(*backend)).show_ui(ui, |ui| {
        for b in [BackendChoice::Auto, BackendChoice::Wgpu, BackendChoice::Cpu] {
            ui.selectable_value(backend, b, name(b));
        }
    });
    ui.end_row();
    ui.label("GPU autotune");
    egui::ComboBox::from_id_salt("autotune")
        .selected_text(autotune.name())
        .show_ui(ui, |ui| {
            for l in AutotuneLevel::ALL {
                ui.selectable_value(autotune, l, l.name());
            }
        })
        .response
        .on_hover_text(
            "How hard new kernel shapes are tuned; results are cached on disk. Minimal: quickest first step",
        );
    ui.end_row();
}
