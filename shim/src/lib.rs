#[ctor::ctor(unsafe)]
fn init() {}
