//! One module per kubectl command: its flags (`Args`) and `run`.

pub mod annotate;
pub mod api_resources;
pub mod apply;
pub mod attach;
pub mod cluster_info;
pub mod config;
pub mod create;
pub mod delete;
pub mod describe;
pub mod edit;
pub mod exec;
pub mod explain;
pub mod expose;
pub mod get;
pub mod label;
pub mod logs;
pub mod patch;
pub mod port_forward;
pub mod replace;
pub mod rollout;
pub mod run;
pub mod scale;
pub mod set;
pub mod top;
pub mod version;
pub mod wait;
