//! The WGSL shaders parse and validate (naga, the compiler wgpu uses), without needing a GPU.

#[test]
fn window_level_shader_validates() {
    use wgpu::naga;
    let src = std::fs::read_to_string(super::common::root().join("shaders/window_level.wgsl")).unwrap();
    let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{}", e.emit_to_string(&src)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap();
    let entry: Vec<_> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(entry, ["vs_main", "fs_main"]);
}
