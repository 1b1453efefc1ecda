//! One module per kubectl command: its flags (`Args`) and `run`.

pub mod get;
