//! Storage printers: PersistentVolume(Claim), StorageClass,
//! VolumeAttributesClass, VolumeAttachment, CSINode, CSIDriver,
//! CSIStorageCapacity.

use serde_json::Value;

use super::{Ctx, Row};
use crate::table::duration::since;
use crate::table::quantity::quantity_string;
use crate::table::value::{
    annotation, arr_at, at, b, creation, deleting, i, len_at, name, opt_bool_at, opt_str_at, s,
    str_at,
};

/// Legacy storage-class annotation that wins over `spec.storageClassName`.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
const IS_DEFAULT_STORAGE_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_IS_DEFAULT_STORAGE_CLASS_ANNOTATION: &str =
    "storageclass.beta.kubernetes.io/is-default-class";
const ALPHA_IS_DEFAULT_VAC_ANNOTATION: &str =
    "volumeattributesclass.alpha.kubernetes.io/is-default-class";

fn age(obj: &Value, ctx: &Ctx<'_>) -> Value {
    s(since(creation(obj), ctx.now))
}

/// `storage` entry of a resource list, rendered like `Quantity.String()`
/// (a missing entry is the zero quantity, `0`).
fn storage_quantity(list: Option<&Value>) -> String {
    match list.and_then(|l| l.get("storage")) {
        Some(Value::String(q)) => quantity_string(q),
        Some(Value::Number(n)) => quantity_string(&n.to_string()),
        _ => "0".to_string(),
    }
}

/// `helper.GetAccessModesAsString`: de-duplicated, fixed order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

fn nonempty_or<'a>(v: Option<&'a str>, default: &'a str) -> &'a str {
    v.filter(|x| !x.is_empty()).unwrap_or(default)
}

pub(crate) fn print_pv(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let claim = match at(obj, &["spec", "claimRef"]) {
        Some(r) => format!("{}/{}", str_at(r, &["namespace"]), str_at(r, &["name"])),
        None => String::new(),
    };
    // Defaults: reclaim policy Retain, phase Pending, volume mode Filesystem.
    let reclaim = nonempty_or(
        opt_str_at(obj, &["spec", "persistentVolumeReclaimPolicy"]),
        "Retain",
    );
    let mut phase = nonempty_or(opt_str_at(obj, &["status", "phase"]), "Pending");
    if deleting(obj) {
        phase = "Terminating";
    }
    let class = annotation(obj, BETA_STORAGE_CLASS_ANNOTATION)
        .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]));
    let vac = opt_str_at(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>");
    let volume_mode = opt_str_at(obj, &["spec", "volumeMode"]).unwrap_or("Filesystem");
    Row::new(vec![
        s(name(obj)),
        s(storage_quantity(at(obj, &["spec", "capacity"]))),
        s(access_modes(arr_at(obj, &["spec", "accessModes"]))),
        s(reclaim),
        s(phase),
        s(claim),
        s(class),
        s(vac),
        s(str_at(obj, &["status", "reason"])),
        age(obj, ctx),
        s(volume_mode),
    ])
}

pub(crate) fn print_pvc(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let mut phase = nonempty_or(opt_str_at(obj, &["status", "phase"]), "Pending");
    if deleting(obj) {
        phase = "Terminating";
    }
    let volume_name = str_at(obj, &["spec", "volumeName"]);
    let (capacity, modes) = if volume_name.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_quantity(at(obj, &["status", "capacity"])),
            access_modes(arr_at(obj, &["status", "accessModes"])),
        )
    };
    let class = annotation(obj, BETA_STORAGE_CLASS_ANNOTATION)
        .or_else(|| opt_str_at(obj, &["spec", "storageClassName"]))
        .unwrap_or_default();
    let vac = opt_str_at(obj, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>");
    let volume_mode = opt_str_at(obj, &["spec", "volumeMode"]).unwrap_or("Filesystem");
    Row::new(vec![
        s(name(obj)),
        s(phase),
        s(volume_name),
        s(capacity),
        s(modes),
        s(class),
        s(vac),
        age(obj, ctx),
        s(volume_mode),
    ])
}

pub(crate) fn print_storage_class(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let mut display = name(obj).to_string();
    if annotation(obj, IS_DEFAULT_STORAGE_CLASS_ANNOTATION) == Some("true")
        || annotation(obj, BETA_IS_DEFAULT_STORAGE_CLASS_ANNOTATION) == Some("true")
    {
        display.push_str(" (default)");
    }
    Row::new(vec![
        s(display),
        s(str_at(obj, &["provisioner"])),
        s(opt_str_at(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
        s(opt_str_at(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
        b(opt_bool_at(obj, &["allowVolumeExpansion"]).unwrap_or(false)),
        age(obj, ctx),
    ])
}

pub(crate) fn print_volume_attributes_class(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let mut display = name(obj).to_string();
    if annotation(obj, ALPHA_IS_DEFAULT_VAC_ANNOTATION) == Some("true") {
        display.push_str(" (default)");
    }
    Row::new(vec![
        s(display),
        s(str_at(obj, &["driverName"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_volume_attachment(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["spec", "attacher"])),
        s(str_at(obj, &["spec", "source", "persistentVolumeName"])),
        s(str_at(obj, &["spec", "nodeName"])),
        b(opt_bool_at(obj, &["status", "attached"]).unwrap_or(false)),
        age(obj, ctx),
    ])
}

pub(crate) fn print_csi_node(obj: &Value, ctx: &Ctx<'_>) -> Row {
    Row::new(vec![
        s(name(obj)),
        i(len_at(obj, &["spec", "drivers"])),
        age(obj, ctx),
    ])
}

pub(crate) fn print_csi_driver(obj: &Value, ctx: &Ctx<'_>) -> Row {
    let token_requests = match at(obj, &["spec", "tokenRequests"]).and_then(Value::as_array) {
        None => "<unset>".to_string(),
        Some(list) => list
            .iter()
            .map(|t| str_at(t, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
    };
    // volumeLifecycleModes defaults to [Persistent].
    let modes: Vec<&str> = arr_at(obj, &["spec", "volumeLifecycleModes"])
        .iter()
        .map(|m| m.as_str().unwrap_or_default())
        .collect();
    let modes = if modes.is_empty() {
        "Persistent".to_string()
    } else {
        modes.join(",")
    };
    Row::new(vec![
        s(name(obj)),
        b(opt_bool_at(obj, &["spec", "attachRequired"]).unwrap_or(true)),
        b(opt_bool_at(obj, &["spec", "podInfoOnMount"]).unwrap_or(false)),
        b(opt_bool_at(obj, &["spec", "storageCapacity"]).unwrap_or(false)),
        s(token_requests),
        b(opt_bool_at(obj, &["spec", "requiresRepublish"]).unwrap_or(false)),
        s(modes),
        age(obj, ctx),
    ])
}

pub(crate) fn print_csi_storage_capacity(obj: &Value, _ctx: &Ctx<'_>) -> Row {
    let capacity = match at(obj, &["capacity"]) {
        Some(Value::String(q)) => quantity_string(q),
        Some(Value::Number(n)) => quantity_string(&n.to_string()),
        _ => "<unset>".to_string(),
    };
    Row::new(vec![
        s(name(obj)),
        s(str_at(obj, &["storageClassName"])),
        s(capacity),
    ])
}
